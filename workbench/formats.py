"""The interchange formats a transcript exports to: json, srt, vtt, txt, csv, rttm.

One writer function per format in `WRITERS`; `render()` picks one, `write()` puts its text in a file.
`labels` maps a diarized id (S1, S2, ...) to the role and name the clerk gave it; a speaker is shown
as the label's display ("审判长张三") when there is one, else as the bare id, and as nothing when the
segment has no speaker. The court record (.docx) is `workbench.record.fill`; it shares `turns()` and
`clean_text()` with these writers so that every format merges and cleans text the same way.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.speech.diarization.rttm import to_rttm
from workbench.speech.transcript import Segment, SpeakerLabel, Transcript, speaker_display

Labels = Mapping[str, SpeakerLabel]
Writer = Callable[[Transcript, Labels], str]

# Characters XML 1.0 forbids (C0 controls except tab/newline/CR, surrogates, U+FFFE/U+FFFF); a
# single one makes Word refuse the whole file, and subtitle players choke on them too.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Languages whose text is written without spaces between words: segments join with no separator.
_NO_SPACE_LANGUAGES = ("zh", "yue", "ja")


def clean_text(text: str) -> str:
    """`text` without the characters XML 1.0 forbids; everything else (emoji, RTL, length) kept."""
    return _FORBIDDEN.sub("", text)


def _one_line(text: str) -> str:
    """Subtitle cues end at a blank line, so a cue's text must not contain one."""
    return " ".join(clean_text(text).split())


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def join_text(left: str, right: str) -> str:
    """Two segments' text as one turn: a space between Latin words, none next to CJK text."""
    if not left:
        return right
    if not right:
        return left
    if _wide(left[-1]) or _wide(right[0]) or left[-1].isspace() or right[0].isspace():
        return left + right
    return left + " " + right


def _colon(language: str) -> str:
    return "：" if language.split("-")[0] in _NO_SPACE_LANGUAGES else ": "


@dataclass(frozen=True, slots=True)
class Turn:
    """Consecutive segments of one speaker, joined: one paragraph of the court record."""

    start: float
    end: float
    speaker: str | None
    text: str
    segments: int


def turns(transcript: Transcript) -> Iterator[Turn]:
    """Merges consecutive segments with the same speaker; text is cleaned, empty segments add nothing."""
    current: Turn | None = None
    for seg in transcript.segments:
        text = clean_text(seg.text).strip()
        if current is not None and seg.speaker == current.speaker:
            current = Turn(
                current.start,
                max(current.end, seg.end),
                current.speaker,
                join_text(current.text, text),
                current.segments + 1,
            )
            continue
        if current is not None:
            yield current
        current = Turn(seg.start, seg.end, seg.speaker, text, 1)
    if current is not None:
        yield current


def timestamp(seconds: float, sep: str = ".", hours: bool = True) -> str:
    """`01:02:03.456` (VTT), `01:02:03,456` with sep="," (SRT)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}" if hours or h else f"{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(transcript: Transcript) -> Iterator[tuple[int, Segment, str]]:
    """Segments with text, numbered from 1: an empty cue is invalid in SRT and useless in VTT."""
    n = 0
    for seg in transcript.segments:
        text = _one_line(seg.text)
        if text:
            n += 1
            yield n, seg, text


# --- writers -------------------------------------------------------------------------------------


def write_json(transcript: Transcript, labels: Labels) -> str:
    """The pipeline schema (`Transcript.to_dict()`), plus `labels` and each segment's role and name.

    The additions are keys `Transcript.from_dict()` ignores, so the file still loads as a transcript.
    """
    data = transcript.to_dict()
    if labels:
        data["labels"] = {
            sid: {"role": lab.role, "name": lab.name, "display": lab.display(sid)} for sid, lab in labels.items()
        }
        for seg in data["segments"]:
            label = labels.get(seg["speaker"]) if seg["speaker"] is not None else None
            seg["role"] = label.role if label else None
            seg["name"] = label.name if label else None
    # A lone surrogate (from a broken decoder upstream) cannot be written as UTF-8; nothing else is touched.
    return _SURROGATE.sub("", json.dumps(data, ensure_ascii=False, indent=1)) + "\n"


def write_srt(transcript: Transcript, labels: Labels) -> str:
    colon = _colon(transcript.language)
    blocks = []
    for n, seg, text in _cues(transcript):
        who = speaker_display(seg.speaker, labels)
        text = text.replace("-->", "→")  # would read as a second timing line
        line = f"{who}{colon}{text}" if who else text
        blocks.append(f"{n}\n{timestamp(seg.start, ',')} --> {timestamp(max(seg.end, seg.start), ',')}\n{line}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(transcript: Transcript, labels: Labels) -> str:
    """WebVTT with the speaker as a voice span (`<v 审判长>`), which players show and search tools read."""
    blocks = ["WEBVTT\n"]
    for n, seg, text in _cues(transcript):
        who = speaker_display(seg.speaker, labels)
        # "-->" inside cue text would start a new timing line; a voice annotation cannot hold ">".
        body = _vtt_escape(text.replace("-->", "→"))
        if who:
            body = f"<v {_vtt_escape(who).replace('&gt;', '')}>{body}"
        blocks.append(f"{n}\n{timestamp(seg.start)} --> {timestamp(max(seg.end, seg.start))}\n{body}\n")
    return "\n".join(blocks)


def write_txt(transcript: Transcript, labels: Labels) -> str:
    """One line per turn: `[00:01:02] 审判长张三：……`; a turn is consecutive segments of one speaker."""
    colon = _colon(transcript.language)
    lines = []
    for turn in turns(transcript):
        text = _one_line(turn.text)
        if not text:
            continue
        who = speaker_display(turn.speaker, labels)
        stamp = timestamp(turn.start).split(".")[0]
        lines.append(f"[{stamp}] {who}{colon}{text}" if who else f"[{stamp}] {text}")
    return "\n".join(lines) + "\n" if lines else ""


# A cell starting so is run as a formula by Excel, LibreOffice Calc and Sheets ("=HYPERLINK(...)" from a
# recognised utterance, say); a leading apostrophe makes it text (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """`cell` with a leading ' when a spreadsheet would take it for a formula; else as it is.

    A carriage return inside becomes a line break: the writer (lines end in "\n") would not quote a field
    holding a lone CR, and every reader would take it for the end of the row.
    """
    safe = "'" + cell if cell.startswith(_FORMULA_START) else cell
    return safe.replace("\r\n", "\n").replace("\r", "\n")


def write_csv(transcript: Transcript, labels: Labels) -> str:
    """One row per segment: index, start, end, speaker id, role, name, display, text.

    Text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get a leading '.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "start", "end", "speaker", "role", "name", "display", "text"])
    for i, seg in enumerate(transcript.segments, start=1):
        label = labels.get(seg.speaker) if seg.speaker is not None else None
        writer.writerow(
            [
                i,
                f"{seg.start:.3f}",
                f"{seg.end:.3f}",
                spreadsheet_safe(seg.speaker or ""),
                spreadsheet_safe((label.role or "") if label else ""),
                spreadsheet_safe((label.name or "") if label else ""),
                spreadsheet_safe(speaker_display(seg.speaker, labels)),
                spreadsheet_safe(clean_text(seg.text)),
            ]
        )
    return out.getvalue()


def write_rttm(transcript: Transcript, labels: Labels) -> str:
    """NIST RTTM, one SPEAKER line per segment with a speaker; names are the ids (RTTM fields hold no spaces).

    The URI is the recording's stem, as pyannote and the references in testdata write it.
    """
    return to_rttm(transcript.segments, Path(transcript.file).stem)


WRITERS: dict[str, Writer] = {
    "json": write_json,
    "srt": write_srt,
    "vtt": write_vtt,
    "txt": write_txt,
    "csv": write_csv,
    "rttm": write_rttm,
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
# Excel reads a CSV as the local code page unless it starts with a BOM; everything else is plain UTF-8.
_ENCODINGS = {"csv": "utf-8-sig"}


def render(fmt: str, transcript: Transcript, labels: Labels | None = None) -> str:
    """The transcript as text in `fmt` (one of `FORMATS`)."""
    try:
        writer = WRITERS[fmt]
    except KeyError as e:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}") from e
    return writer(transcript, labels or {})


def write(fmt: str, transcript: Transcript, path: Path, labels: Labels | None = None) -> Path:
    """Renders `fmt` into `path` (UTF-8; CSV with a BOM for Excel) and returns the path."""
    text = render(fmt, transcript, labels)
    path = Path(path)
    try:
        path.write_text(text, encoding=_ENCODINGS.get(fmt, "utf-8"), newline="")
    except OSError as e:
        raise OSError(
            f"{path}: cannot write the {fmt} export ({e.strerror}); check the folder exists and is writable"
        ) from e
    return path
