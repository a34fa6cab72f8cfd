"""Issuing a hearing's record (every export, every format) and verifying a file that claims to be one.

`issue()` is the only way a stored hearing leaves the server as a file. In order:

1. who asks: the hearing must be one the account may see (`NotYours` otherwise, like a missing one) and export;
2. the record as stored (`Store.hearing_record`), its sealed parts (不公开) replaced by one line per part
   (`record.sealing.seal`): nobody's export carries them;
3. redaction by the chosen profile (`record.redact.redact`), the ids in `keep` left as they are (a clerk
   unticked a false find in the preview); the stored text never changes;
4. the bytes: .docx and .pdf carry a record manifest (`record.manifest.Manifest`: hearing, state, audio sha256,
   the sha256 of exactly the dialogue lines in the file, the head of the hearing's edits chain, time, exporter)
   and its short verification code; the interchange formats are made from the same sealed and redacted record;
5. the audit row EXPORTED, written BEFORE the bytes are handed back, with the manifest and the code in its
   detail: that row is what proves later that this server issued the code.

`verify()` reads a file back (`record.evidence.read_evidence`), finds the export row whose code the file
carries and says, in words, what differs now: the file's bytes, its dialogue lines (naming the first
differing line, what the file says and what the record says), the recording, the record's content since the
export (the edits made since, by whom and when), and the state. A file whose code this server never issued,
and one from a case the caller may not see, get the same answer.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import io
import re
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench import formats
from workbench.record import ExportError, RecordOptions, render_docx
from workbench.record.batch import entry_name
from workbench.record.evidence import read_evidence, text_parts
from workbench.record.manifest import Manifest, body_lines, text_sha256, visible_notes
from workbench.record.pdf import docx_to_pdf_bytes
from workbench.record.redact import (
    PROFILES,
    Redaction,
    RedactionResult,
    apply,
    find,
    redact,
    redaction_id,
    roster_names,
)
from workbench.record.sealing import seal
from workbench.store import audit
from workbench.store.records import NotFound
from workbench.store.signoff import RECORD_ACTIONS

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.speech.transcript import HearingRecord
    from workbench.store import Store
    from workbench.store.audit import AuditRow

MEDIA_TYPES: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "rttm": "text/plain; charset=utf-8",
}
RECORD_FORMATS = ("docx", "pdf")  # the court record, with a manifest and its code
FORMATS: tuple[str, ...] = (*RECORD_FORMATS, *formats.FORMATS)
ENCODINGS = {"csv": "utf-8-sig"}  # Excel reads a CSV as the local code page without a BOM (as `formats.write`)

SHOWN_DIFFERENCES = 5  # differing lines named in a report; the rest are counted
QUOTE_MAX = 80  # characters of a line quoted in a finding

# How each of the store's record-content actions (`store.signoff.RECORD_ACTIONS`, what `record_head` follows)
# is named when an export no longer matches; sign-off steps change the state, reported on its own.
CHANGE_WORDS: dict[str, str] = {
    audit.EDITED: "修改 (edits)",
    audit.SPEAKER_CHANGED: "说话人标注修改 (speaker labels changed)",
    audit.SEGMENT_SPLIT: "段落拆分 (segments split)",
    audit.SEGMENTS_MERGED: "段落合并 (segments merged)",
    audit.HEARING_CHANGED: "庭审信息或转写修改 (hearing details or transcript changed)",
    audit.CASE_CHANGED: "案件信息修改 (case details changed)",
    audit.SEALED: "标记不公开部分 (parts sealed)",
    audit.UNSEALED: "取消不公开部分 (parts unsealed)",
}
assert set(CHANGE_WORDS) == set(RECORD_ACTIONS), "a record-content action without its words"
# A log note's write is a HEARING_CHANGED row whose detail holds "log_note" (`store.notes`): named on its own.
NOTE_DETAIL = "log_note"
NOTE_CHANGE_WORDS = "庭审阶段、笔记或休庭修改 (stage marks, notes or recesses changed)"

NO_MANIFEST = (
    "文件中没有记录清单，不是本系统导出的笔录或清单已被删除 "
    "(no record manifest: not an export of this system, or it was stripped)"
)
NOT_ISSUED = "此验证码不是本服务器签发的 (this code was never issued by this server)"
CHANGED_SINCE_CAVEAT = (
    "笔录在导出后有修改，以下差异中可能有这些修改 (the record changed since: some may be those changes)"
)
_TIME_PREFIX = re.compile(r"^\[(\d{2}:\d{2}:\d{2})\]\s*")


class PdfError(ExportError):
    """LibreOffice could not make the PDF (missing, timed out, failed): the server's problem, not the request's."""


@dataclass(frozen=True)
class Issued:
    """One export: the bytes to hand over, their file name and media type, the manifest (.docx/.pdf) and the
    redactions applied (what the preview listed, less the kept ones)."""

    body: bytes
    file_name: str
    media_type: str
    manifest: Manifest | None
    redactions: list[Redaction]


@dataclass(frozen=True)
class VerifyReport:
    """What a file says against what the store says now. `ok` only when nothing in it differs: its bytes, its
    dialogue, the recording and the record's content. The state it was exported in and the state now are both
    given; a record approved and then locked still matches a copy exported when it was approved."""

    ok: bool
    file: str
    kind: str  # "docx" | "pdf" | what the file turned out to be
    code: str | None  # the verification code the file carries
    hearing_id: int | None  # None unless the code was issued here, for a hearing the caller may see
    exported_state: str | None
    exported_at: str | None
    exporter: str | None
    state_now: str | None
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- issuing ---------------------------------------------------------------------------------------------


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: 应为 {', '.join(choices)} 之一 (got {str(value)[:40]!r})")


def _sealed_record(store: Store, hearing_id: int, original: bool) -> tuple[HearingRecord, int]:
    """The stored record with its sealed parts replaced by their placeholder lines, and every log note touching
    them left out, stage marks too (`manifest.visible_notes`: the redaction preview must not show them either);
    and how many parts."""
    record = store.hearing_record(hearing_id, original=original)
    parts = store.sealed_parts(hearing_id)
    if parts:
        record = seal(record, [(p.start, p.end, p.reason) for p in parts])
        record = dataclasses.replace(record, notes=visible_notes(record))
    return record, len(parts)


def redact_with_notes(record: HearingRecord, profile: str, keep: Collection[str] = ()) -> RedactionResult:
    """`record.redact.redact`, and the log notes' text too, as the dialogue's: a note names people and numbers as
    what was said does. Each note's redactions have where "note:<note id>" (stable while other notes come and go)
    and the note's time as `segment_start`, so the preview lists them and `keep` leaves one as it is."""
    result = redact(record, profile, keep)
    if profile == "none" or not record.notes:
        return result
    names = {name: mask for name, (mask, _reason) in roster_names(record, profile).items()}
    kept = frozenset(keep)
    redactions = list(result.redactions)
    notes = []
    for i, note in enumerate(record.notes):
        where = f"note:{note.id}" if note.id is not None else f"note:#{i}"
        applied = []
        for hit in find(note.text, profile, names=names):
            start, end, kind, replacement, reason = hit
            rid = redaction_id(where, start, kind, note.text[start:end])
            if rid in kept:
                continue
            applied.append(hit)
            redactions.append(
                Redaction(rid, kind, note.text[start:end], replacement, reason, where, start, end, note.at)
            )
        notes.append(dataclasses.replace(note, text=apply(note.text, applied)) if applied else note)
    return RedactionResult(dataclasses.replace(result.record, notes=tuple(notes)), redactions)


def _redacted(record: HearingRecord, profile: str, keep: Collection[str]) -> tuple[HearingRecord, list[Redaction]]:
    """The record as the profile publishes it; a kept id that the profile does not find is refused (the text
    changed since the preview, or a typo): the clerk previews again rather than publish what they did not see."""
    if profile == "none":
        if keep:
            raise ValueError("keep: 未选择脱敏方案时不能保留脱敏项 (keep needs a redaction profile other than none)")
        return record, []
    if keep:
        found = {r.id for r in redact_with_notes(record, profile).redactions}
        unknown = sorted(set(keep) - found)
        if unknown:
            raise ValueError(
                f"keep: 没有这些脱敏项 {', '.join(u[:60] for u in unknown[:5])} (no such redaction; preview again)"
            )
    result = redact_with_notes(record, profile, keep)
    return result.record, list(result.redactions)


def _audio_sha256(store: Store, hearing_id: int) -> str:
    """The recording's sha256 (several recordings: theirs joined by commas, in their order)."""
    return ",".join(r.sha256 for r in store.recordings(hearing_id))


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def file_name_of(record: HearingRecord, fmt: str, profile: str) -> str:
    """`<case number>.docx`; a redacted export says so (`…-publication.docx`), so it is not taken for the full one."""
    stem = entry_name(record)
    return f"{stem}-{profile}.{fmt}" if profile != "none" else f"{stem}.{fmt}"


def issue(
    access: Access,
    hearing_id: int,
    fmt: str,
    options: RecordOptions,
    *,
    original: bool = False,
    redact: str = "none",
    keep: Collection[str] = (),
    via: str = "api",
) -> Issued:
    """The hearing as `fmt` (docx, pdf or an interchange format), sealed and redacted, audited before it is
    returned. NotYours for a hearing the account may not see; ValueError for a bad format, profile or kept id;
    ExportError for a template that cannot be used, PdfError for a PDF conversion that fails (nothing is
    audited then: nothing left)."""
    _check_choice("format", fmt, FORMATS)
    _check_choice("redact", redact, PROFILES)
    hearing = access.hearing(hearing_id)
    access.require_export(hearing.case_id)
    store = access.store
    keep = sorted(set(keep))
    # The head before the text: an edit landing in between then reads as "changed since" at verify (safe),
    # never as a head that claims an edit the file does not hold.
    edits_head = store.record_head(hearing.id)
    record, sealed = _sealed_record(store, hearing.id, original)
    record, redactions = _redacted(record, redact, keep)
    manifest: Manifest | None = None
    if fmt in RECORD_FORMATS:
        lines = body_lines(record, options)
        manifest = Manifest(
            hearing_id=hearing.id,
            case_number=record.case_number,
            state=record.state,  # as read with the text (the hearing row may have moved on since)
            audio_sha256=_audio_sha256(store, hearing.id),
            text_sha256=text_sha256(lines),
            lines=len(lines),
            edits_head=edits_head,
            exported_at=_now(),
            exporter=access.account.name,
            format=fmt,
            options={"original": original, "timestamps": options.timestamps, "line_numbers": options.line_numbers,
                     "redact": redact, "kept": list(keep), "sealed": sealed},
        )  # fmt: skip
        body = render_docx(record, options, manifest=manifest)
        if fmt == "pdf":
            try:
                body = docx_to_pdf_bytes(body)
            except ExportError as e:
                raise PdfError(str(e)) from e
    else:
        body = formats.render(fmt, record.transcript, record.labels).encode(ENCODINGS.get(fmt, "utf-8"))
    file_name = file_name_of(record, fmt, redact)
    detail: dict[str, Any] = {
        "format": fmt, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body), "file": file_name,
        "original": original, "via": via, "redact": redact, "kept": list(keep), "redactions": len(redactions),
        "sealed": sealed, "state": record.state,
        "code": manifest.code() if manifest else None, "manifest": manifest.to_dict() if manifest else None,
    }  # fmt: skip
    if fmt in RECORD_FORMATS:
        detail.update(timestamps=options.timestamps, line_numbers=options.line_numbers)
        if options.template is not None:
            detail["template"] = str(options.template)
    # Audited before a byte leaves, with the hash of exactly the bytes that will: the row proves the code.
    store.record(access.actor, audit.EXPORTED, case_id=hearing.case_id, hearing_id=hearing.id, detail=detail)
    return Issued(body, file_name, MEDIA_TYPES[fmt], manifest, redactions)


def issue_zip(
    access: Access,
    hearing_ids: Sequence[int],
    *,
    fmt: str = "docx",
    options: RecordOptions | None = None,
    redact: str = "none",
    via: str = "api",
) -> bytes:
    """Several hearings in one .zip, each issued (and audited) by `issue` as `fmt`, named by its case number
    (a name used twice gets -2, -3, ..., as `record.export_zip`). NotYours if any is not the account's to see:
    checked for all before the first is issued, so nothing is issued then."""
    for hearing_id in hearing_ids:
        access.require_export(access.hearing(hearing_id).case_id)
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for hearing_id in hearing_ids:
            issued = issue(access, hearing_id, fmt, options or RecordOptions(), redact=redact, via=via)
            stem, _, ext = issued.file_name.rpartition(".")
            unique, n = stem, 1
            while unique in used:
                n += 1
                unique = f"{stem}-{n}"
            used.add(unique)
            z.writestr(f"{unique}.{ext}", issued.body)
    return buffer.getvalue()


def preview_redactions(access: Access, hearing_id: int, profile: str, *, original: bool = False) -> list[Redaction]:
    """Every redaction `profile` would make in the hearing's export (sealed parts are not in it: nobody's export
    carries them, so the preview does not show their text either). NotYours like `issue`."""
    _check_choice("profile", profile, PROFILES)
    hearing = access.hearing(hearing_id)
    access.require_export(hearing.case_id)
    record, _ = _sealed_record(access.store, hearing.id, original)
    return [] if profile == "none" else list(redact_with_notes(record, profile).redactions)


# --- verifying -------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


def _regenerated(store: Store, manifest: Manifest) -> tuple[HearingRecord, RecordOptions]:
    """The record as the manifest's options make it from the store now (sealed, redacted), and those options."""
    opts = manifest.options
    record, _ = _sealed_record(store, manifest.hearing_id, bool(opts.get("original")))
    profile = str(opts.get("redact") or "none")
    kept = [str(k) for k in opts.get("kept") or ()]
    if profile != "none":
        record = redact_with_notes(record, profile, kept).record
    return record, RecordOptions(timestamps=bool(opts.get("timestamps")), line_numbers=bool(opts.get("line_numbers")))


def _regenerated_lines(store: Store, manifest: Manifest) -> tuple[list[str], list[str | None]]:
    """The dialogue lines the manifest's options make from the record now, and each line's start time."""
    record, options = _regenerated(store, manifest)
    lines = body_lines(record, options)
    timed = lines if options.timestamps else body_lines(record, RecordOptions(timestamps=True))
    times: list[str | None] = [None] * len(lines)
    if len(timed) == len(lines):
        for i, line in enumerate(timed):
            m = _TIME_PREFIX.match(line)
            times[i] = m.group(1) if m else None
    return lines, times


PART_NAMES = {"word/document.xml": "正文 (body)"}


def _part_name(part: str) -> str:
    if part in PART_NAMES:
        return PART_NAMES[part]
    return ("页眉 (header)" if "header" in part else "页脚 (footer)") + f" {part.rsplit('/', 1)[-1]}"


def _paragraph_findings(store: Store, manifest: Manifest, data: bytes) -> list[str]:
    """The paragraphs outside the dialogue that differ from the file the record makes again now (the header's case
    number, a party, the appendix, a footer): made again as issued, whose text is all but what the record moved."""
    record, options = _regenerated(store, manifest)
    made = text_parts(render_docx(record, options, manifest=manifest))
    found = text_parts(data)
    out: list[str] = []
    for part in sorted(set(made) | set(found)):
        ours, theirs = made.get(part, []), found.get(part, [])
        for i in range(max(len(ours), len(theirs))):
            a = theirs[i] if i < len(theirs) else "（无 none）"
            b = ours[i] if i < len(ours) else "（无 none）"
            if a != b:
                out.append(f"{_part_name(part)}第{i + 1}段：文件中为「{_quote(a)}」，笔录为「{_quote(b)}」 "
                           f"(paragraph {i + 1} of the {part}: the file's text, then the record's)")  # fmt: skip
                break  # the first per part: after an inserted paragraph every later one differs
    return out


def _line_findings(file_lines: Sequence[str], record_lines: Sequence[str], times: Sequence[str | None]) -> list[str]:
    """The first differing lines, by number (1-based, in the dialogue), with the time, the file's text and the
    record's; then how many more."""
    out: list[str] = []
    more = 0
    matcher = difflib.SequenceMatcher(None, list(file_lines), list(record_lines), autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        for k in range(max(a1 - a0, b1 - b0)):
            i, j = a0 + k, b0 + k
            if len(out) >= SHOWN_DIFFERENCES:
                more += 1
                continue
            number = j + 1 if j < b1 else i + 1
            at = times[j] if j < b1 and j < len(times) and times[j] else None
            where = f"第{number}行" + (f" {at}" if at else "")
            said = f"「{_quote(file_lines[i])}」" if i < a1 else "（无此行 none)"
            says = f"「{_quote(record_lines[j])}」" if j < b1 else "（无此行 none)"
            out.append(f"{where}：文件中为{said}，笔录为{says} (line {number}{' at ' + at if at else ''} of the "
                       "dialogue: the file's text, then the record's)")  # fmt: skip
    if more:
        out.append(f"另有 {more} 行不同 ({more} more differing lines)")
    if not out:  # the same lines, joined differently (a paragraph split or merged)
        out.append("正文的分段与签发时不同 (the dialogue is split into paragraphs differently)")
    return out


def _changes_since(store: Store, hearing_id: int, head: str) -> list[str]:
    """The content changes after the audit row `head` (the export's edits-chain head), grouped in words:
    "2 处修改 (edits) by clerk1, 2026-12-01 10:02–10:05"; edits made by accepting a correction request are
    named by their request."""
    try:
        rows = store.record_changes_since(hearing_id, head)
    except NotFound:
        return ["导出时的修改链头在审计记录中找不到 (the export's edits head is not in the audit trail)"]
    groups: list[tuple[str, str, object, list[AuditRow]]] = []
    for r in rows:
        request = r.detail.get("request_id")
        action = NOTE_DETAIL if r.action == audit.HEARING_CHANGED and NOTE_DETAIL in r.detail else r.action
        if groups and groups[-1][:3] == (action, r.account, request):
            groups[-1][3].append(r)
        else:
            groups.append((action, r.account, request, [r]))
    out = []
    for action, account, request, members in groups:
        first, last = members[0].logged_at, members[-1].logged_at
        when = first.strftime("%Y-%m-%d %H:%M")
        if last.strftime("%Y-%m-%d %H:%M") != when:
            when += "–" + last.strftime("%H:%M" if last.date() == first.date() else "%Y-%m-%d %H:%M")
        if request is not None:
            out.append(f"补正申请 #{request} 已采纳：{len(members)} 处修改 by {account}, {when} "
                       f"(correction request #{request} accepted)")  # fmt: skip
        else:
            words = NOTE_CHANGE_WORDS if action == NOTE_DETAIL else CHANGE_WORDS.get(action, action)
            out.append(f"{len(members)} 处{words} by {account}, {when}")
    return out


def _not_issued(name: str, kind: str, code: str | None) -> VerifyReport:
    """The answer for a code never issued here, and for one of a hearing the caller may not see: the same."""
    return VerifyReport(False, name, kind, code, None, None, None, None, None, [NOT_ISSUED])


def verify(access: Access, data: bytes, name: str = "") -> VerifyReport:
    """Whether the file `data` (a .docx or .pdf export) is what this server issued and still matches the record;
    each difference in words. Never raises on a bad file: its problems are the findings."""
    evidence = read_evidence(data, name)
    manifest = evidence.manifest
    if manifest is None:
        findings = [*evidence.problems, NO_MANIFEST] if evidence.problems else [NO_MANIFEST]
        return VerifyReport(False, name, evidence.kind, None, None, None, None, None, None, findings)
    code = manifest.code()
    store = access.store
    row = store.issued_export(code)
    if row is None or row.hearing_id is None or row.case_id is None or not access.can_see_case(row.case_id):
        return _not_issued(name, evidence.kind, code)
    issued = Manifest.from_dict(row.detail["manifest"])
    findings: list[str] = list(evidence.problems)
    try:
        hearing = store.hearing(row.hearing_id)
    except NotFound:  # deleted since: the store has nothing left to compare with
        return VerifyReport(False, name, evidence.kind, code, row.hearing_id, issued.state, issued.exported_at,
                            issued.exporter, None, ["庭审已被删除 (the hearing was deleted since)"])  # fmt: skip
    state_now = str(hearing.status)
    head_now = store.record_head(hearing.id)
    if evidence.sha256 != row.detail.get("sha256"):
        findings.append("文件字节与签发时不同 (the file's bytes differ from the file issued)")
    if evidence.kind == "docx":
        if evidence.lines is None:
            findings.append("文件中找不到笔录正文 (the dialogue cannot be found in the file)")
        elif text_sha256(evidence.lines) != issued.text_sha256:
            record_lines, times = _regenerated_lines(store, issued)
            findings.append("笔录正文与签发时不同 (the dialogue text differs from the text issued)")
            if head_now != issued.edits_head:
                findings.append(CHANGED_SINCE_CAVEAT)
            findings.extend(_line_findings(evidence.lines, record_lines, times))
        elif findings:
            findings.append("但笔录正文与签发时一致 (the dialogue text itself is as issued)")
            if not row.detail.get("template"):  # a court's own template is on the server's disk, not in the row
                findings.extend(_paragraph_findings(store, issued, data))
    audio_now = _audio_sha256(store, hearing.id)
    if audio_now != issued.audio_sha256:
        findings.append(f"录音已更换 (the recording changed: sha256 {issued.audio_sha256[:12]}… → {audio_now[:12]}…)")
    if head_now != issued.edits_head:
        findings.append("笔录内容在导出后已修改 (the record changed since it was exported):")
        findings.extend("  " + c for c in _changes_since(store, hearing.id, issued.edits_head))
    # A state moved on alone (approved, then locked) is no difference in the file: the report names both states.
    return VerifyReport(not findings, name, evidence.kind, code, hearing.id, issued.state, issued.exported_at,
                        issued.exporter, state_now, findings)  # fmt: skip
