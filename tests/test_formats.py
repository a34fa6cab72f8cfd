"""The interchange formats, from the test recordings' references (RTTM turns, human transcripts)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from hearing_samples import (
    SAMPLE_LABELS,
    SAMPLE_TEXT,
    TESTDATA,
    read_rttm,
    transcript_from_reference,
    transcript_from_rttm,
)

from workbench import formats
from workbench.speech.transcript import EngineInfo, Segment, Transcript

DIARIZATION = ["pyannote_sample", "pyannote_ami_dev00", "pyannote_ami_dev01", "pyannote_ami_tst00"]
HOSTILE = [
    "控制\x00字符\x07与\x1b[0m转义\x0b\x0c\ufffe\ud800",
    "表情 😀👨‍⚖️⚖️ 结束",
    "长" * 20_000,
    "عربي: المحكمة منعقدة — עברית: בית המשפט",
]


def _rttm_transcript(name: str) -> Transcript:
    if name == "pyannote_sample":
        return transcript_from_rttm(name, SAMPLE_TEXT)
    rows = read_rttm(TESTDATA / "diarization" / f"{name}.rttm")
    return transcript_from_rttm(name, [f"utterance {i}" for i in range(len(rows))], language="en")


def _hostile() -> Transcript:
    segs = [Segment(i * 2.0, i * 2.0 + 1.5, text, speaker=f"S{i % 2 + 1}") for i, text in enumerate(HOSTILE)]
    return Transcript("hostile.wav", "0" * 64, 10.0, "zh", EngineInfo("test", "none"), segs)


def test_registry() -> None:
    assert formats.FORMATS == ("json", "srt", "vtt", "txt", "csv", "rttm")
    assert set(formats.WRITERS) == set(formats.FORMATS)
    with pytest.raises(ValueError, match=r"unknown export format 'docx'.*json, srt"):
        formats.render("docx", _rttm_transcript("pyannote_sample"))


@pytest.mark.parametrize("name", DIARIZATION)
def test_rttm_reproduces_the_reference(name: str) -> None:
    """Our RTTM of a transcript built from a reference RTTM gives back the same turns and speakers."""
    transcript = _rttm_transcript(name)
    ref = read_rttm(TESTDATA / "diarization" / f"{name}.rttm")
    ours = read_rttm_text(formats.render("rttm", transcript, SAMPLE_LABELS))
    assert len(ours) == len(ref)
    mapping: dict[str, str] = {}
    for (rs, re_, rspk), (os_, oe, ospk) in zip(ref, ours, strict=True):
        assert (round(rs, 3), round(re_, 3)) == (round(os_, 3), round(oe, 3))
        assert mapping.setdefault(rspk, ospk) == ospk  # one-to-one speaker renaming
    assert len(set(mapping.values())) == len(mapping)
    uri = {line.split()[1] for line in formats.render("rttm", transcript).splitlines()}
    assert uri == {name}


def read_rttm_text(text: str) -> list[tuple[float, float, str]]:
    rows = []
    for line in text.splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER"
        rows.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return sorted(rows)


@pytest.mark.parametrize("name", DIARIZATION)
def test_srt_and_vtt_cues(name: str) -> None:
    transcript = _rttm_transcript(name)
    srt = formats.render("srt", transcript, SAMPLE_LABELS)
    blocks = srt.strip().split("\n\n")
    assert len(blocks) == len(transcript.segments)
    for n, (block, seg) in enumerate(zip(blocks, transcript.segments, strict=True), start=1):
        index, timing, text = block.split("\n")
        assert index == str(n)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", timing)
        assert timing.startswith(formats.timestamp(seg.start, ","))
        assert text.endswith(seg.text)
    vtt = formats.render("vtt", transcript, SAMPLE_LABELS)
    assert vtt.startswith("WEBVTT\n\n")
    assert vtt.count(" --> ") == len(transcript.segments)
    if name == "pyannote_sample":
        assert "审判长张明：现在开庭。" in srt
        assert "<v 审判长张明>现在开庭。" in vtt
        assert "<v 原告委托诉讼代理人李华>审判长好。" in vtt
    else:
        assert "审判长张明: utterance 0" in srt  # English text: an ASCII colon and space


def test_txt_merges_turns_and_labels_speakers() -> None:
    transcript = _rttm_transcript("pyannote_sample")
    lines = formats.render("txt", transcript, SAMPLE_LABELS).splitlines()
    # Rows 8 and 9 of the RTTM are both speaker91 (S2): one turn.
    assert len(lines) == len(transcript.segments) - 1
    assert lines[0] == "[00:00:06] 审判长张明：现在开庭。"
    assert lines[7].startswith("[00:00:18] 原告委托诉讼代理人李华：有。原告与被告于")
    unlabelled = formats.render("txt", transcript)
    assert unlabelled.splitlines()[0] == "[00:00:06] S1：现在开庭。"


def test_no_speaker_means_no_label() -> None:
    t = Transcript("x.wav", "0", 3.0, "en", EngineInfo("t", "m"), [Segment(0, 1, "hello"), Segment(1, 2, "world")])
    assert formats.render("txt", t) == "[00:00:00] hello world\n"
    assert "\nhello\n" in formats.render("srt", t)
    assert "<v" not in formats.render("vtt", t)
    assert formats.render("rttm", t) == ""
    rows = list(csv.reader(io.StringIO(formats.render("csv", t))))
    assert rows[1][3:7] == ["", "", "", ""]


def test_json_is_the_pipeline_schema_plus_labels() -> None:
    transcript = _rttm_transcript("pyannote_sample")
    data = json.loads(formats.render("json", transcript, SAMPLE_LABELS))
    assert Transcript.from_dict(data).to_dict() == transcript.to_dict()
    assert data["labels"]["S1"] == {"role": "审判长", "name": "张明", "display": "审判长张明"}
    assert data["segments"][1]["role"] == "原告委托诉讼代理人"
    plain = json.loads(formats.render("json", transcript))
    assert plain == transcript.to_dict()


def test_csv_one_row_per_segment(tmp_path: Path) -> None:
    transcript = _rttm_transcript("pyannote_ami_tst00")
    path = formats.write("csv", transcript, tmp_path / "t.csv", {"S1": SAMPLE_LABELS["S1"]})
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(transcript.segments)
    assert {r["speaker"] for r in rows} == {"S1", "S2", "S3", "S4"}
    assert {r["display"] for r in rows if r["speaker"] == "S1"} == {"审判长张明"}
    assert float(rows[0]["start"]) == pytest.approx(transcript.segments[0].start, abs=1e-3)


@pytest.mark.parametrize("rel", ["asr/zh_aishell1_BAC009S0764W0121.wav", "asr/en_jfk.flac"])
def test_asr_references(rel: str, tmp_path: Path) -> None:
    transcript = transcript_from_reference(rel)
    for fmt in formats.FORMATS:
        path = formats.write(fmt, transcript, tmp_path / f"out.{fmt}")
        text = path.read_text(encoding="utf-8-sig")
        if fmt != "rttm":
            assert transcript.segments[0].text in text


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_hostile_text(fmt: str, tmp_path: Path) -> None:
    out = formats.write(fmt, _hostile(), tmp_path / f"h.{fmt}").read_text(encoding="utf-8-sig")
    if fmt == "json":
        data = json.loads(out)
        assert data["segments"][2]["text"] == "长" * 20_000
        assert data["segments"][0]["text"] == "控制\x00字符\x07与\x1b[0m转义\x0b\x0c\ufffe"  # only the surrogate goes
        return
    if fmt == "rttm":
        assert len(out.splitlines()) == 4
        return
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe]", out)
    assert "控制字符与[0m转义" in out
    assert "😀👨‍⚖️⚖️" in out
    assert "长" * 20_000 in out
    assert "المحكمة منعقدة" in out and "בית המשפט" in out


def test_vtt_escapes_markup() -> None:
    t = Transcript("x.wav", "0", 3.0, "en", EngineInfo("t", "m"), [Segment(0, 1, "a <b> & c --> d", "S1")])
    vtt = formats.render("vtt", t, {})
    assert "<v S1>a &lt;b&gt; &amp; c → d" in vtt
    srt = formats.render("srt", t, {})
    assert srt.count("-->") == 1
