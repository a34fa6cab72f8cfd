"""Recognition with the real Whisper base model on real clips, and `workbench transcribe` on a bad batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import clip
from media import video_without_audio, write_wav

from workbench.cli import main
from workbench.speech import asr, audio, text
from workbench.speech.options import TranscribeOptions
from workbench.speech.pipeline import transcribe

OPTIONS = TranscribeOptions(engine="whisper", diarize=False, device="cpu")


def _check_invariants(result, duration: float) -> None:
    for a, b in zip(result.segments, result.segments[1:], strict=False):
        assert a.start <= b.start
    for seg in result.segments:
        assert 0 <= seg.start < seg.end <= duration + 0.5
        for word in seg.words:
            assert seg.start - 0.01 <= word.start <= word.end <= seg.end + 0.01


def test_english(whisper_engine) -> None:
    result = transcribe(clip("en_jfk.flac"), OPTIONS)
    ref = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    errors = text.edit_distance(text.normalise_wer(ref), text.normalise_wer(result.text))
    assert errors <= 1, result.text
    assert result.language == "en"
    assert result.engine.asr == "whisper" and result.engine.model == "whisper-base"
    assert result.engine.punctuation == "model"
    assert all(seg.words for seg in result.segments)
    _check_invariants(result, 11.0)


def test_mandarin_comes_out_in_simplified_characters(whisper_engine) -> None:
    result = transcribe(clip("zh_aishell1_BAC009S0764W0121.wav"), TranscribeOptions(**{**_opts(), "itn": False}))
    assert result.language == "zh"
    assert result.text and text.to_simplified(result.text) == result.text
    ref = text.normalise_cer("甚至出现交易几乎停滞的情况")
    assert text.edit_distance(ref, text.normalise_cer(result.text)) <= 3, result.text


def test_silence_gives_an_empty_transcript(whisper_engine, tmp_path: Path) -> None:
    path = write_wav(np.zeros(20 * audio.SAMPLE_RATE, dtype=np.float32), tmp_path / "silence.wav")
    result = transcribe(path, OPTIONS)
    assert result.segments == [] and result.duration == pytest.approx(20.0)


def test_quiet_noise_is_not_hallucinated_into_words(whisper_engine, tmp_path: Path) -> None:
    noise = np.random.default_rng(3).normal(0, 0.003, 15 * audio.SAMPLE_RATE).astype(np.float32)
    result = transcribe(write_wav(noise, tmp_path / "room-tone.wav"), OPTIONS)
    assert result.text == ""


def test_a_fifth_of_a_second(whisper_engine, tmp_path: Path) -> None:
    speech = audio.load(clip("en_jfk.flac"))
    result = transcribe(write_wav(speech[16000:19200], tmp_path / "blip.wav"), OPTIONS)
    assert result.duration == pytest.approx(0.2)


def test_hotwords_and_language_are_honoured(whisper_engine) -> None:
    options = TranscribeOptions(
        **{**_opts(), "language": "en", "hotwords": (text.Hotword("Americans"), text.Hotword("Kennedy", 2.0))}
    )
    result = transcribe(clip("en_jfk.flac"), options)
    assert result.language == "en"
    assert result.engine.hotwords == ("Americans", "Kennedy")
    assert "country" in result.text


def test_hotwords_that_reach_whisper_fit_its_prompt_and_the_rest_are_named(
    whisper_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faster-whisper cuts its hotword prompt at 223 tokens without a word: what it gets must fit whole,
    the transcript must list exactly what it got, and the warnings must name what was left out."""
    job_words = (text.Hotword("Kennedy", 2.0), text.Hotword("不当得利"))
    case_words = tuple(text.Hotword(f"原告代理人第{i}号") for i in range(60))  # far more than 223 tokens
    options = TranscribeOptions(**_opts(), language="en", hotwords=job_words).with_hotwords(case_words)
    seen: list[str | None] = []
    real = whisper_engine.pipeline.transcribe

    def spy(*args, **kwargs):
        seen.append(kwargs.get("hotwords"))
        return real(*args, **kwargs)

    monkeypatch.setattr(whisper_engine.pipeline, "transcribe", spy)
    result = transcribe(clip("en_jfk.flac"), options)
    assert seen and len(set(seen)) == 1
    sent = seen[0]
    tokens = whisper_engine.model.hf_tokenizer.encode(" " + sent, add_special_tokens=False).ids
    assert len(tokens) <= asr.HOTWORD_PROMPT_TOKENS
    assert sent == " ".join(result.engine.hotwords)
    assert result.engine.hotwords[:2] == ("Kennedy", "不当得利")  # the job's own words come first and fit
    left_out = [h.term for h in options.hotwords if h.term not in result.engine.hotwords]
    assert left_out, "the list was meant to overflow the prompt"
    [warning] = [w for w in result.warnings if "hotword" in w]
    assert f"{len(left_out)} hotword(s)" in warning and all(term in warning for term in left_out)


def test_speech_packed_across_chunks_keeps_its_own_times(whisper_engine) -> None:
    """Two clips 40 s apart, in 30 s chunks: decoded in one packed window, each line at the time it was said."""
    first, second = audio.load(clip("en_jfk.flac")), audio.load(clip("en_librivox_ss01_0880.wav"))
    gap = np.zeros(40 * audio.SAMPLE_RATE, dtype=np.float32)
    recording = np.concatenate([first, gap, second])
    later = (first.shape[0] + gap.shape[0]) / audio.SAMPLE_RATE  # 51 s
    blocks = (recording[i : i + 30 * audio.SAMPLE_RATE] for i in range(0, recording.shape[0], 30 * audio.SAMPLE_RATE))
    calls = []
    decode = whisper_engine.pipeline.transcribe

    def counted(samples, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["clip_timestamps"])
        return decode(samples, **kwargs)

    whisper_engine.pipeline.transcribe = counted
    try:
        segments, _ = whisper_engine.transcribe(
            audio.speech_chunks(blocks, chunk_seconds=30, search_seconds=5),
            asr.AsrOptions("en", itn=False),
            recording.shape[0] / audio.SAMPLE_RATE,
        )
        segments = list(segments)
    finally:
        whisper_engine.pipeline.transcribe = decode
    assert len(calls) == 1 and len(calls[0]) == 1  # one window holds both clips' speech: one encoder pass
    early = [s for s in segments if s.start < 20]
    late = [s for s in segments if s.start >= 20]
    assert "country" in " ".join(s.text for s in early) and early[-1].end <= 11.5
    assert "disposed" in " ".join(s.text for s in late)
    assert later - 0.5 <= late[0].start and late[-1].end <= later + 3.5
    for seg in segments:
        assert all(seg.start - 0.01 <= w.start <= w.end <= seg.end + 0.01 for w in seg.words)


class _CountingEncoder:
    """CTranslate2's Whisper with its encoder passes counted (everything else passed through)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.encoded = inner, 0

    def encode(self, features, **kwargs):  # type: ignore[no-untyped-def]
        self.encoded += features.shape[0]
        return self.inner.encode(features, **kwargs)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_language_detection_reuses_the_first_windows_encoder_pass(whisper_engine) -> None:
    samples = audio.load(clip("en_jfk.flac"))
    counting = _CountingEncoder(whisper_engine.model.model)
    whisper_engine.model.model = counting
    try:
        segments, language = whisper_engine.transcribe(
            iter([(0.0, samples)]), asr.AsrOptions("auto", itn=False), samples.shape[0] / audio.SAMPLE_RATE
        )
        lines = list(segments)
    finally:
        whisper_engine.model.model = counting.inner
    assert language.value == "en" and "country" in " ".join(s.text for s in lines)
    assert counting.encoded == 1  # one window: detected and decoded from the same encoder output


def test_window_by_window_encoding_and_alignment_match_the_batch(whisper_engine) -> None:
    """On CPU the engine encodes and aligns one window at a time (`_share_out_windows`): the same
    encoder output and word times as faster-whisper's own batched calls."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = whisper_engine.model
    clips = [audio.load(clip("en_jfk.flac")), audio.load(clip("en_librivox_ss01_0880.wav"))]
    features = np.stack([pad_or_trim(model.feature_extractor(c)[..., :-1]) for c in clips])
    one_by_one = np.asarray(model.encode(features))
    batched = np.asarray(WhisperModel.encode(model, features))
    assert one_by_one.shape == batched.shape == (2, 1500, 512)
    assert np.allclose(one_by_one, batched, atol=0.05), np.abs(one_by_one - batched).max()

    tokens = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="en")
    texts = [" And so my fellow Americans, ask not", " It was the first great sorrow of his life."]
    text_tokens = [tokens.encode(t) for t in texts]
    frames = [c.shape[0] // 160 for c in clips]
    encoder_output = model.encode(features)
    ours = model.find_alignment(tokens, text_tokens, encoder_output, frames)
    theirs = WhisperModel.find_alignment(model, tokens, text_tokens, encoder_output, frames)
    assert [[w["word"] for w in window] for window in ours] == [[w["word"] for w in window] for window in theirs]
    for mine, peer in zip(ours, theirs, strict=True):
        assert all(abs(a["start"] - b["start"]) <= 0.02 for a, b in zip(mine, peer, strict=True))


def test_beam_search_split_among_workers_finds_what_one_batch_finds(whisper_engine) -> None:
    """On CPU each beam search batch is split between two workers run at once (`_SplitBeamSearch`): the
    tokens, in the batch's order, are those of the unsplit batch."""
    from faster_whisper.audio import pad_or_trim

    model = whisper_engine.model
    split = model.model
    whole = split._whisper  # CTranslate2's own model under the split
    names = ("en_jfk.flac", "en_librivox_ss01_0880.wav", "zh_aishell1_BAC009S0724W0121.wav")
    features = np.stack([pad_or_trim(model.feature_extractor(audio.load(clip(n)))[..., :-1]) for n in names])
    encoded = model.encode(features)
    prompts = [[50258, 50259, 50359, 50363], [50258, 50259, 50359, 50363], [50258, 50260, 50359, 50363]]
    ours = split.generate(encoded, prompts, beam_size=5)
    theirs = whole.generate(encoded, prompts, beam_size=5)
    assert [r.sequences_ids for r in ours] == [r.sequences_ids for r in theirs]
    words = [model.hf_tokenizer.decode(r.sequences_ids[0]) for r in ours]
    assert "country" in words[0] and "ill-disposed" in words[1] and "广州" in text.to_simplified(words[2]), words


def test_split_sentences_keeps_every_word() -> None:
    from workbench.speech.transcript import Word

    words = [Word(i * 0.5, i * 0.5 + 0.4, w) for i, w in enumerate(" Mr. Smith came. He said, yes! 好 的。".split(" "))]
    pieces = list(asr.split_sentences(words))
    assert [w for p in pieces for w in p] == words
    assert ["".join(w.text for w in p) for p in pieces] == ["Mr.Smithcame.", "Hesaid,yes!", "好的。"]


def _opts() -> dict:
    return {"engine": "whisper", "diarize": False, "device": "cpu"}


# --- the CLI on a batch with bad files ---------------------------------------------------------


def test_transcribe_cli_batch_with_bad_files(whisper_engine, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = inputs / "庭审 录音 \"第1次\" 'a'.flac"
    shutil.copy(clip("en_jfk.flac"), good)
    (inputs / "empty.wav").write_bytes(b"")
    (inputs / "random.wav").write_bytes(np.random.default_rng(0).bytes(40_000))
    video_without_audio(inputs / "no-audio.mp4")
    silence = write_wav(np.zeros(5 * audio.SAMPLE_RATE, dtype=np.float32), inputs / "silence.wav")
    files = [inputs / "empty.wav", good, inputs / "random.wav", inputs / "no-audio.mp4", silence]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["transcribe", *map(str, files), "--out", str(out), "--no-diarize", "--formats", "json,srt,vtt,txt"],
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3
    assert any("empty.wav" in e and "empty" in e for e in errors)
    assert any("random.wav" in e and "not a recording" in e for e in errors)
    assert any("no-audio.mp4" in e and "no audio track" in e for e in errors)
    assert "3 of 5 file(s) failed" in result.stderr
    for suffix in ("json", "srt", "vtt", "txt"):
        assert (out / f"{good.stem}.{suffix}").exists()
    data = json.loads((out / f"{good.stem}.json").read_text(encoding="utf-8"))
    assert set(data) >= {"file", "sha256", "duration", "language", "engine", "segments"}
    assert data["engine"]["asr"] == "whisper" and data["engine"]["model"] == "whisper-base"
    seg = data["segments"][0]
    assert set(seg) >= {"start", "end", "text", "speaker", "words"} and seg["speaker"] is None
    assert set(seg["words"][0]) >= {"start", "end", "text", "prob"}
    assert json.loads((out / "silence.json").read_text())["segments"] == []


def test_transcribe_cli_rejects_unknown_formats(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["transcribe", "x.wav", "--out", str(tmp_path), "--formats", "json,doc"])
    assert result.exit_code == 2 and "unknown format" in result.output
