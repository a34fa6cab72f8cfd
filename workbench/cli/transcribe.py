"""`workbench transcribe FILE... --out DIR`: recordings to transcript files, no database needed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from workbench import settings
from workbench.speech.diarization import Diarization, SpeakerCount, to_rttm
from workbench.speech.text import read_hotwords

if TYPE_CHECKING:
    from workbench.progress import ProgressHook
    from workbench.speech.transcript import Transcript

T = TypeVar("T")

log = logging.getLogger("workbench.cli")

FORMATS = ("json", "srt", "vtt", "txt", "csv", "rttm")


def _formats(value: str) -> tuple[str, ...]:
    chosen = tuple(f.strip().lower() for f in value.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise click.BadParameter(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return ("json", *(f for f in chosen if f != "json"))


def _setting_help(name: str) -> str:
    return settings.REGISTRY[name].help


@click.command("transcribe")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option("--engine", type=click.Choice(settings.ENGINES), help=_setting_help("engine"))
@click.option("--model", help=_setting_help("asr_model"))
@click.option("--language", type=click.Choice(settings.LANGUAGES), help=_setting_help("language"))
@click.option(
    "--hotwords", "hotwords_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Hotword list: one term per line, optional weight after a space.",
)  # fmt: skip
@click.option("--itn/--no-itn", default=None, help=_setting_help("itn"))
@click.option("--speakers", help=_setting_help("speakers"))
@click.option("--diarize/--no-diarize", default=None, help=_setting_help("diarize"))
@click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), help=_setting_help("device"))
@click.option(
    "--channels", "channels", metavar="MAP",
    help="One seat per channel, comma-separated, e.g. 审判长,原告,被告,- (ROLE, SEAT:ROLE, SEAT:ROLE+ROLE for a "
    "shared seat, - to ignore a channel, mix for the room's mix): speakers come from the channels.",
)  # fmt: skip
@click.option("--formats", "formats", default="json", show_default=True, help=f"Comma-separated: {', '.join(FORMATS)}.")
def transcribe_cmd(
    files: tuple[Path, ...],
    out_dir: Path,
    engine: str | None,
    model: str | None,
    language: str | None,
    hotwords_file: Path | None,
    itn: bool | None,
    speakers: str | None,
    diarize: bool | None,
    device: str | None,
    channels: str | None,
    formats: str,
) -> None:
    """Transcribe recordings to DIR/<stem>.json (and the other formats asked for).

    With --channels, each file must have that many channels; each seat's speech is recognised from its
    own channel. One file that fails does not stop the others; each failure is printed with its reason
    and the exit code is 1.
    """
    from workbench import formats as writers
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

    chosen = _formats(formats)
    if speakers is not None:
        _check_speakers(speakers)
    hotwords = read_hotwords(hotwords_file) if hotwords_file else None
    seats = _check_channels(channels) if channels is not None else None
    options = TranscribeOptions.from_settings(
        engine=engine, model=model, language=language, itn=itn, hotwords=hotwords,
        diarize=diarize, speakers=speakers, device=device, channels=seats,
    )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)

    def keep(path: Path, transcript: Transcript) -> None:
        for warning in transcript.warnings:
            click.echo(f"warning: {path.name}: {warning}", err=True)
        for fmt in chosen:
            writers.write(fmt, transcript, out_dir / f"{path.stem}.{fmt}")
        click.echo(f"{path.name}: {len(transcript.segments)} segments, {transcript.duration:.1f} s → {out_dir}")

    # one-shot: each stage's models are released before the next loads its own (see `pipeline.transcribe`)
    _batch(files, lambda path, bar: transcribe(path, options, progress=bar, release_between_stages=True), keep)


def _batch(files: tuple[Path, ...], work: Callable[[Path, ProgressHook], T], keep: Callable[[Path, T], None]) -> None:
    """Runs `work` on each file under its own progress bar, then `keep` on its result.

    One file that fails does not stop the others: each failure is printed as one line naming the
    file and the reason, and the exit code is 1.
    """
    from workbench.models import memory
    from workbench.progress import TqdmHook
    from workbench.speech.audio import AudioError

    memory.one_heap_arena()  # before any model starts its threads
    failures: list[str] = []
    for i, path in enumerate(files, 1):
        bar = TqdmHook(f"[{i}/{len(files)}] {path.name}")
        try:
            result = work(path, bar)
        except AudioError as e:  # its message already names the file
            failures.append(str(e))
            continue
        except Exception as e:  # one bad file fails alone; the batch goes on
            log.debug("%s failed", path, exc_info=True)
            failures.append(f"{path.name}: {e}")
            continue
        finally:
            bar.close()
        keep(path, result)
    for failure in failures:
        click.echo(f"error: {failure}", err=True)
    if failures:
        click.echo(f"{len(failures)} of {len(files)} file(s) failed", err=True)
        sys.exit(1)


def _check_channels(value: str) -> tuple[str, ...]:
    """The --channels map in normal form; a bad one is a usage error naming the item."""
    from workbench.speech.seats import SeatsError, channels_spec, parse_channels

    try:
        return channels_spec(parse_channels(value))
    except SeatsError as e:
        raise click.BadParameter(str(e), param_hint="--channels") from e


def _check_speakers(value: str) -> SpeakerCount:
    try:
        return SpeakerCount.parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--speakers") from e


@click.command("diarize")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option("--speakers", help=_setting_help("speakers"))
@click.option("--model", help="A registered pyannote pipeline folder to use instead of the embedded default.")
@click.option("--device", type=click.Choice(("auto", "cpu", "cuda")), help=_setting_help("device"))
def diarize_cmd(
    files: tuple[Path, ...], out_dir: Path, speakers: str | None, model: str | None, device: str | None
) -> None:
    """Who spoke when, alone: DIR/<stem>.rttm for each recording."""
    from workbench.speech.asr import resolve_device
    from workbench.speech.diarization.pipeline import diarize_file  # torch and pyannote: only when diarizing

    count = _check_speakers(speakers or settings.get("speakers"))
    chosen_device = resolve_device(device or settings.get("device"), library="torch")
    out_dir.mkdir(parents=True, exist_ok=True)

    def keep(path: Path, result: Diarization) -> None:
        (out_dir / f"{path.stem}.rttm").write_text(to_rttm(result, path.stem), encoding="utf-8")
        click.echo(f"{path.name}: {len(result.speakers)} speaker(s), {len(result.turns)} turns → {out_dir}")

    _batch(
        files,
        lambda path, bar: diarize_file(path, count, model=model, device=chosen_device, progress=bar),
        keep,
    )
