"""The record manifest: what an exported court record says about itself, and its verification code (验证码).

An issued .docx/.pdf carries a `Manifest` (hearing, state, hashes of the audio and of the dialogue text, who
exported it, when and how). `Manifest.code()` is 12 characters of base32 of the SHA-256 of its canonical JSON,
printed as XXXX-XXXX-XXXX in every footer; the export's audit row keeps the same manifest, so a court can
prove the code was issued and that the text it hashes is the text in the file.

`body_lines()` is the text of each dialogue paragraph exactly as the .docx holds it (`fill` builds those
paragraphs from `dialogue()`), and `text_sha256()` what the manifest keeps of them. The clerk's log notes
(`HearingRecord.notes`) are paragraphs of the dialogue too, in place by time: a stage mark is a heading
("法庭调查"), a note "（书记员注：出示证据一）", a recess "休庭（10:32—10:47）" (wall-clock times when the
hearing's start is known, else offsets into the recording): the hash covers them, so verify catches a changed
heading or note as it does a changed line. `compact()` and
`from_compact()` are the manifest as one keyword token (no spaces, commas, colons or semicolons, which
LibreOffice splits keywords on when it copies them into a PDF's XMP).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from workbench import formats
from workbench.speech.transcript import HearingRecord, LogNote, Segment, speaker_display

if TYPE_CHECKING:
    from workbench.record.fill import RecordOptions

NO_SPEECH = "（本次录音未识别到语音。）"
# A sealed part's placeholder line (`sealing.seal`) starts so; it is never merged with a neighbouring turn.
SEALED_PREFIX = "【不公开审理部分"
COMPACT_PREFIX = "WBM1."  # "workbench manifest, version 1" + base64url(zlib(canonical JSON))
CODE_PATTERN = re.compile(r"\b([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})\b")
FORMATS = ("docx", "pdf")
DIALOGUE_BOOKMARK = "WorkbenchDialogue"  # the .docx's dialogue paragraphs lie between its start and end
MANIFEST_PROPERTY = "WorkbenchManifest"  # the custom property (docProps/custom.xml) holding the manifest JSON

# Hearing states as the record prints them (the store's status labels; the record does not import the store).
STATE_LABELS = {
    "queued": "排队中",
    "processing": "识别中",
    "transcribed": "未核对",
    "in review": "核对中",
    "checked": "已核对",
    "approved": "已审批",
    "locked": "已锁定",
    "failed": "识别失败",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def _frozen(value: Any) -> Any:
    """Options as given, but lists as tuples and dicts read-only, so a Manifest cannot change after code()."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "hearing_id": int,
    "case_number": str,
    "state": str,
    "audio_sha256": str,
    "text_sha256": str,
    "lines": int,
    "edits_head": str,
    "exported_at": str,
    "exporter": str,
    "format": str,
    "options": Mapping,
    "version": int,
}


@dataclass(frozen=True, slots=True)
class Manifest:
    hearing_id: int
    case_number: str
    state: str
    audio_sha256: str
    text_sha256: str
    lines: int
    edits_head: str
    exported_at: str  # ISO time
    exporter: str  # account name
    format: str  # "docx" | "pdf"
    # {"original": bool, "timestamps": bool, "line_numbers": bool, "redact": str, "kept": [ids], "sealed": int}
    options: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"manifest format should be one of {', '.join(FORMATS)}: {self.format!r}")
        object.__setattr__(self, "options", _frozen(self.options))

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _FIELDS}

    def canonical_json(self) -> str:
        """Sorted keys, no spaces, UTF-8 as is: the same manifest always gives the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def code(self) -> str:
        """XXXX-XXXX-XXXX: 60 bits of the manifest's SHA-256 in base32 (A-Z, 2-7: no 0/O or 1/I to confuse)."""
        digest = hashlib.sha256(self.canonical_json().encode()).digest()
        letters = base64.b32encode(digest).decode()[:12]
        return f"{letters[:4]}-{letters[4:8]}-{letters[8:]}"

    def compact(self) -> str:
        """The manifest as one keyword token: `WBM1.` + base64url of the zlib-compressed canonical JSON."""
        packed = zlib.compress(self.canonical_json().encode(), 9)
        return COMPACT_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")

    @classmethod
    def from_compact(cls, token: str) -> Manifest:
        if not token.startswith(COMPACT_PREFIX):
            raise ValueError(f"not a workbench manifest token (should start with {COMPACT_PREFIX})")
        body = token[len(COMPACT_PREFIX) :]
        try:
            raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), bufsize=1 << 16)
            data = json.loads(raw.decode())
        except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"the manifest token is damaged ({e})") from e
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Manifest:
        """The manifest from its dict (to_dict, JSON); ValueError naming the field that is missing or wrong."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a manifest is a JSON object, not {type(d).__name__}")
        missing = [name for name in _FIELDS if name not in d and name != "version"]
        if missing:
            raise ValueError(f"the manifest lacks {', '.join(missing)}")
        values: dict[str, Any] = {}
        for name, kind in _FIELDS.items():
            value = d.get(name, 1) if name == "version" else d[name]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"manifest field {name!r} should be {getattr(kind, '__name__', kind)}: {value!r}")
            values[name] = value
        unknown = sorted(set(d) - set(_FIELDS))
        if unknown:
            # A field this version does not know would not be in code(): the code could not be checked.
            raise ValueError(f"the manifest has fields this version does not know: {', '.join(unknown)}")
        return cls(**values)


NOTE_LABEL = "书记员注"  # a clerk's note in the record: "（书记员注：出示证据一）"
RECESS_LABEL = "休庭"  # a recess: "休庭（10:32—10:47）", "休庭（10:32—10:47，事由：合议庭评议）"


def _is_placeholder(seg: Segment) -> bool:
    return seg.speaker is None and seg.text.startswith(SEALED_PREFIX)


def _sealed_spans(record: HearingRecord) -> list[tuple[float, float]]:
    """The sealed parts of a sealed record: `sealing.seal` leaves one placeholder segment per part, at its span."""
    return [(seg.start, seg.end) for seg in record.transcript.segments if _is_placeholder(seg)]


def _touches(note: LogNote, spans: list[tuple[float, float]]) -> tuple[float, float] | None:
    """The first sealed part the note lies in at all: a point (a stage, a note) inside [start, end), a recess's
    [at, end) overlapping it; the rule `store.signoff.SEALED_OVERLAP` applies to segments and the notes search."""
    end = note.at if note.end is None else note.end
    return next(((s, e) for s, e in spans if note.at < e and (end > s or note.at >= s)), None)


def note_order(note: LogNote) -> tuple[float, bool]:
    """The notes' order everywhere (the store's `Notes.notes` and `Store.hearing_record` sort alike): by time, a
    stage mark first at one time (it heads what comes there), then as given (the order made)."""
    return note.at, note.kind != "stage"


def visible_notes(record: HearingRecord) -> tuple[LogNote, ...]:
    """The log notes the record shows, in `note_order`.

    A note of any kind that lies in a sealed part at all (`_touches`; the parts are the placeholder lines of
    `sealing.seal`) is left out, as what was said there is: a stage mark too, whatever its name, as the API, the
    desk, the timeline and the search hide it from those the sealing hides the part from. Idempotent.
    """
    spans = _sealed_spans(record)
    shown = [note for note in record.notes if _touches(note, spans) is None]
    return tuple(sorted(shown, key=note_order))


def _start_of(record: HearingRecord) -> datetime | None:
    """When the hearing began (the recording's zero), if the record knows."""
    try:
        return datetime.fromisoformat(record.start) if record.start else None
    except ValueError:
        return None


def _offset(seconds: float) -> str:
    return formats.timestamp(seconds).split(".")[0]


def recess_span(record: HearingRecord, note: LogNote) -> str:
    """ "10:32—10:47" (wall-clock: the hearing's start plus the offsets) or "00:32:10—00:47:05" (into the recording)
    when the start is not known."""
    start = _start_of(record)

    def shown(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).strftime("%H:%M") if start is not None else _offset(seconds)

    return shown(note.at) + (f"—{shown(note.end)}" if note.end is not None else "")


def _one_line(text: str) -> str:
    return " ".join(formats.clean_text(text).split())


def note_line(record: HearingRecord, note: LogNote) -> tuple[str, str]:
    """A log note as its line in the record, (text, kind): a stage its name (a heading), a note
    "（书记员注：……）", a recess "休庭（10:32—10:47，事由：……）". A kind this version does not know reads as a note."""
    text = _one_line(note.text)
    if note.kind == "stage":
        return text, "stage"
    if note.kind == "recess":
        why = f"，事由：{text}" if text else ""
        return f"{RECESS_LABEL}（{recess_span(record, note)}{why}）", "recess"
    return f"（{NOTE_LABEL}：{text}）", "note"


def _stretches(record: HearingRecord) -> Iterator[list[Segment] | LogNote]:
    """The segments in stretches, cut at each sealed part's placeholder (a stretch of its own) and at each visible
    log note, which comes where its time falls: before the first segment starting at or after it (a stage mark at
    the moment the judge speaks heads that turn; a note in the middle of a long turn splits it in two)."""
    notes = visible_notes(record)
    k = 0
    stretch: list[Segment] = []
    for seg in record.transcript.segments:
        while k < len(notes) and notes[k].at <= seg.start:
            if stretch:
                yield stretch
                stretch = []
            yield notes[k]
            k += 1
        if _is_placeholder(seg):
            if stretch:
                yield stretch
            yield [seg]
            stretch = []
        else:
            stretch.append(seg)
    if stretch:
        yield stretch
    yield from notes[k:]


def dialogue(record: HearingRecord, *, timestamps: bool) -> list[list[tuple[str, str]]]:
    """The dialogue paragraphs, each as pieces (text, kind): kind "time" (small grey), "speaker" (bold), "text";
    a log note's paragraph holds one piece of kind "stage" (a heading), "note" or "recess" (after its time).

    One paragraph per turn (consecutive segments of a speaker, `formats.turns`); a sealed part's placeholder
    is a paragraph of its own, never joined to a speakerless turn next to it; each visible log note
    (`visible_notes`) a paragraph at its time. Empty: no speech and no notes at all.
    """
    lines: list[list[tuple[str, str]]] = []
    for item in _stretches(record):
        if isinstance(item, LogNote):
            line = [(f"[{_offset(item.at)}] ", "time")] if timestamps else []
            line.append(note_line(record, item))
            lines.append(line)
            continue
        for turn in formats.turns(dataclasses.replace(record.transcript, segments=item)):
            if not turn.text:
                continue
            line = []
            if timestamps:
                line.append((f"[{_offset(turn.start)}] ", "time"))
            who = speaker_display(turn.speaker, record.labels)
            if who:
                line.append((f"{formats.clean_text(who)}：", "speaker"))
            line.append((turn.text, "text"))
            lines.append(line)
    return lines


def body_lines(record: HearingRecord, options: RecordOptions | None = None) -> list[str]:
    """The exact text of each dialogue paragraph of the .docx, in order (timestamps included when on).

    What `text_sha256` hashes and `evidence.read_evidence` reads back between the WorkbenchDialogue bookmarks.
    """
    timestamps = bool(options and options.timestamps)
    return ["".join(text for text, _ in line) for line in dialogue(record, timestamps=timestamps)] or [NO_SPEECH]


def text_sha256(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
