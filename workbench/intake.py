"""Taking recordings in, for every door (the upload page, the API, the watch folders): hearing details, the
parties box, the checks, and the submission to the queue."""

from __future__ import annotations

import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from workbench import settings
from workbench.accounts.access import Access
from workbench.accounts.roles import Forbidden, Role
from workbench.files import safe_file_name
from workbench.speech.options import TranscribeOptions
from workbench.speech.transcript import Party
from workbench.store import Store, jobs

if TYPE_CHECKING:
    from workbench.server.runtime import Runtime  # the server's: the API door needs none

UPLOAD_TYPES = ("wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "wma", "amr", "mp4", "mkv", "webm", "mov")

# Caps on the upload form's fields, checked here as well as by the widgets' `max_chars` (which the browser enforces).
PARTIES_MAX_CHARS = 2_000
PARTIES_MAX = 50
FIELD_MAX_CHARS = {"case_number": 100, "courtroom": 100, "presiding_judge": 100, "clerk": 100, "cause": 200}
SERVER_PATHS_MAX = 100
_FIELD_LABELS = {
    "case_number": "案号",
    "courtroom": "法庭",
    "presiding_judge": "审判长",
    "clerk": "书记员",
    "cause": "案由",
}

_COLONS = "：:"
_PARTY_SEPARATORS = re.compile(r"[；;]")  # one character class: linear
_REP_SEPARATORS = re.compile(r"[、,，]")


def _role_and_value(text: str) -> tuple[str, str] | None:
    """("原告", "张三") from "原告：张三": split at the first colon, both sides stripped and non-empty.

    Plain string scanning, not a backtracking regex: the old `^\\s*([^：:]+?)\\s*[：:]\\s*(.+?)\\s*$` took
    quadratic time on long lines (16 k characters, 0.8 s holding the GIL).
    """
    cut = min((i for i in (text.find(c) for c in _COLONS) if i >= 0), default=-1)
    if cut < 0:
        return None
    role, value = text[:cut].strip(), text[cut + 1 :].strip()
    return (role, value) if role and value else None


def parse_parties(text: str) -> tuple[Party, ...]:
    """Parties from the upload form, one per line: "原告：张三；代理人：李四、王五" or "被告：某公司".

    At most `PARTIES_MAX_CHARS` characters and `PARTIES_MAX` parties; linear in the text's length.
    """
    if len(text) > PARTIES_MAX_CHARS:
        raise ValueError(
            f"当事人一栏最多 {PARTIES_MAX_CHARS} 字，现为 {len(text)} 字 "
            f"(the parties field takes at most {PARTIES_MAX_CHARS} characters)"
        )
    parties = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if len(parties) >= PARTIES_MAX:
            raise ValueError(f"当事人最多 {PARTIES_MAX} 方 (at most {PARTIES_MAX} parties)")
        parts = _PARTY_SEPARATORS.split(line, maxsplit=1)
        main, reps = parts[0], ""
        if len(parts) > 1:
            labelled = _role_and_value(parts[1])
            reps = labelled[1] if labelled else parts[1]
        role_name = _role_and_value(main)
        if role_name is None:
            shown = line.strip()
            shown = shown if len(shown) <= 80 else shown[:80] + "…"
            raise ValueError(f"当事人一行应为“角色：名称”，例如“原告：张三”；无法识别：{shown!r}")
        representatives = tuple(r.strip() for r in _REP_SEPARATORS.split(reps) if r.strip())
        parties.append(Party(role_name[0], role_name[1], representatives))
    return tuple(parties)


def format_parties(parties: Iterable[Party]) -> str:
    lines = []
    for p in parties:
        line = f"{p.role}：{p.name}"
        if p.representatives:
            line += "；代理人：" + "、".join(p.representatives)
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class HearingDetails:
    case_number: str
    starts_at: datetime | None = None
    courtroom: str = ""
    presiding_judge: str = ""
    clerk: str = ""
    parties: tuple[Party, ...] = ()
    cause: str = ""


def ingest_roots() -> list[Path]:
    """The folders (setting `ingest_roots`, `;`-separated) whose audio files may be added from the server."""
    raw = str(settings.get("ingest_roots") or "")
    return [Path(part.strip()).expanduser().resolve() for part in raw.split(";") if part.strip()]


def check_server_path(given: str | Path) -> Path:
    """The file `given` names, resolved (symlinks followed), if it may be taken from the server; else ValueError.

    It must be an absolute path to a regular file with an audio or video extension, resolve inside one of
    the ingest roots (a link inside a root pointing out of it is refused), and be at most `ingest_max_mb`.
    """
    text = str(given).strip()
    roots = ingest_roots()
    if not roots:
        raise ValueError(
            "服务器文件导入未开启：管理员尚未设置可导入的目录 (no ingest roots: an admin sets the ingest_roots setting)"
        )
    if "\x00" in text or len(text) > 4096:
        raise ValueError(f"{text[:80]!r}: 不是有效的路径 (not a valid path)")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{text}: 请填写完整路径，以 / 开头 (an absolute path is needed)")
    if path.suffix.lower().lstrip(".") not in UPLOAD_TYPES:
        raise ValueError(f"{text}: 不是支持的录音格式（{', '.join(UPLOAD_TYPES)}）")
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ValueError(f"{text}: 服务器上没有这个文件，请检查路径 (no such file)") from None
    allowed = "；".join(str(r) for r in roots)
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ValueError(f"{text}: 不在允许导入的目录中（{allowed}）(outside the ingest roots; links are followed)")
    if resolved.suffix.lower().lstrip(".") not in UPLOAD_TYPES:
        raise ValueError(f"{text}: 链接指向的不是录音文件 (the link points at a file that is not a recording)")
    info = resolved.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{text}: 不是普通文件 (not a regular file)")
    max_mb = int(settings.get("ingest_max_mb"))
    if info.st_size > max_mb << 20:
        raise ValueError(
            f"{text}: 文件 {info.st_size / (1 << 20):.0f} MB，超过上限 {max_mb} MB (larger than ingest_max_mb)"
        )
    return resolved


def check_details(details: HearingDetails) -> str:
    """The case number, stripped, once every field is within its cap; else ValueError naming the field."""
    for field, limit in FIELD_MAX_CHARS.items():
        value = getattr(details, field)
        if len(value) > limit or "\x00" in value:
            raise ValueError(
                f"{_FIELD_LABELS[field]}最多 {limit} 字，且不能含控制字符 ({field}: at most {limit} characters)"
            )
    if len(details.parties) > PARTIES_MAX:
        raise ValueError(f"当事人最多 {PARTIES_MAX} 方 (at most {PARTIES_MAX} parties)")
    number = details.case_number.strip()
    if not number:
        raise ValueError("请填写案号，例如（2024）京0105民初1234号")
    return number


def check_recording_name(name: str) -> None:
    """ValueError unless `name` (as sent) has a recording's extension."""
    if Path(name).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
        raise ValueError(
            f"{safe_file_name(name, 'upload')}: 不是支持的录音格式（{', '.join(UPLOAD_TYPES)}）(not a recording)"
        )


def check_submission(
    details: HearingDetails,
    *,
    access: Access,
    names: Sequence[str] = (),
    paths: Sequence[str | Path] = (),
    local: bool = False,
) -> tuple[str, list[Path]]:
    """Everything `submit_recordings` refuses, checked before any file is stored or taken: returns the case
    number and the server paths resolved.

    Refused (ValueError or `Forbidden`, with a message): an account that may not upload, an existing case
    number the account is not a member of, server paths from anyone but an admin or a clerk, or outside
    the ingest roots (`check_server_path`), a file whose name is not a recording's. `local` (the CLI's
    operator on the server, whose files are theirs to give) takes any existing file as a path.
    """
    number = check_details(details)
    access.require_upload_to(number)
    if len(paths) > SERVER_PATHS_MAX:
        raise ValueError(f"一次最多 {SERVER_PATHS_MAX} 个服务器文件 (at most {SERVER_PATHS_MAX} server paths)")
    if local:
        resolved = []
        for p in paths:
            path = Path(p).expanduser().absolute()
            if not path.is_file():
                raise ValueError(f"{p}: 没有这个文件 (no such file)")
            resolved.append(path)
    else:
        if paths and access.account.role not in (Role.ADMIN, Role.CLERK):
            raise Forbidden(
                "只有管理员和书记员可以添加服务器上的文件 "
                "(only an admin or a clerk may add files already on the server)"
            )
        resolved = [check_server_path(p) for p in paths]
    for name in names:
        check_recording_name(name)
    return number, resolved


def submit_recordings(
    store: Store,
    details: HearingDetails,
    options: TranscribeOptions,
    *,
    access: Access,
    spooled: Sequence[tuple[str, Path]] = (),
    paths: Sequence[str | Path] = (),
    local: bool = False,
    wake: Callable[[], None] = lambda: None,
) -> list[jobs.Submission]:
    """Stores the recordings, creates their hearings and queues their jobs as `access.actor` (audited);
    then `wake`s the worker. `spooled` are files already written by the server, (name as sent, file):
    moved into the audio store, not copied, and named by `safe_file_name`. `paths` are recordings on the
    server (copied). Checked first as `check_submission` says: nothing is stored when a check fails.
    """
    number, resolved = check_submission(
        details, access=access, names=[name for name, _ in spooled], paths=paths, local=local
    )
    subs = jobs.submit(
        store,
        [
            *(jobs.Spooled(safe_file_name(name, f"upload-{i}"), Path(path)) for i, (name, path) in enumerate(spooled)),
            *resolved,
        ],
        case_number=number,
        starts_at=details.starts_at,
        courtroom=details.courtroom,
        presiding_judge=details.presiding_judge,
        clerk=details.clerk,
        options=options,
        cause=details.cause,
        parties=details.parties,
        actor=access.actor,
    )
    wake()
    return subs


def submit_uploads(
    rt: Runtime,
    files: Sequence[tuple[str, IO[bytes]]],
    details: HearingDetails,
    options: TranscribeOptions,
    *,
    access: Access,
    paths: Sequence[str | Path] = (),
) -> list[jobs.Submission]:
    """The upload page's submission: `files` are the browser's uploads (streams), spooled to a temporary
    folder beside the audio store (same disk, so moving them in is a rename), then `submit_recordings`.
    Checked (`check_submission`) before anything is written.
    """
    check_submission(details, access=access, names=[name for name, _ in files], paths=paths)
    rt.store.audio_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=rt.store.audio_dir, prefix=".upload-") as tmp:
        spooled: list[tuple[str, Path]] = []
        for i, (name, stream) in enumerate(files):
            path = Path(tmp) / f"{i:03d}{Path(safe_file_name(name, 'upload')).suffix.lower()}"
            with path.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            spooled.append((name, path))
        return submit_recordings(rt.store, details, options, access=access, spooled=spooled, paths=paths, wake=rt.wake)
