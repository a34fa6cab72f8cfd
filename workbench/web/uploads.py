"""The upload form's side that is not a widget: hearing details, the parties box, spooling uploads to the queue."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from workbench.files import safe_file_name
from workbench.server.runtime import Runtime
from workbench.speech.options import TranscribeOptions
from workbench.speech.transcript import Party
from workbench.store import jobs

UPLOAD_TYPES = ("wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "wma", "amr", "mp4", "mkv", "webm", "mov")

_PARTY_RE = re.compile(r"^\s*([^：:]+?)\s*[：:]\s*(.+?)\s*$")


def parse_parties(text: str) -> tuple[Party, ...]:
    """Parties from the upload form, one per line: "原告：张三；代理人：李四、王五" or "被告：某公司"."""
    parties = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = re.split(r"[；;]", line, maxsplit=1)
        main, reps = parts[0], ""
        if len(parts) > 1:
            rep_match = _PARTY_RE.match(parts[1])
            reps = rep_match.group(2) if rep_match else parts[1]
        m = _PARTY_RE.match(main)
        if m is None:
            raise ValueError(f"当事人一行应为“角色：名称”，例如“原告：张三”；无法识别：{line.strip()!r}")
        representatives = tuple(r.strip() for r in re.split(r"[、,，]", reps) if r.strip())
        parties.append(Party(m.group(1), m.group(2), representatives))
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


def submit_uploads(
    rt: Runtime,
    files: Sequence[tuple[str, IO[bytes]]],
    details: HearingDetails,
    options: TranscribeOptions,
    *,
    paths: Sequence[str | Path] = (),
) -> list[jobs.Submission]:
    """Stores the uploaded files (and recordings already on the server, `paths`), creates their
    hearings and queues their jobs; wakes the worker.

    Each upload is spooled to a temporary file beside the audio store (same disk, so the store's copy
    is cheap) and removed once stored. A server path must name an existing file with an audio or
    video extension, so the form cannot be used to copy other files of the server into the store.
    """
    number = details.case_number.strip()
    if not number:
        raise ValueError("请填写案号，例如（2024）京0105民初1234号")
    local = [Path(p).expanduser() for p in paths]
    for p in local:
        if p.suffix.lower().lstrip(".") not in UPLOAD_TYPES:
            raise ValueError(f"{p}: 不是支持的录音格式（{', '.join(UPLOAD_TYPES)}）")
        if not p.is_file():
            raise ValueError(f"{p}: 服务器上没有这个文件，请检查路径")
    try:
        rt.store.case(number)
    except KeyError:
        rt.store.add_case(number, cause=details.cause, parties=details.parties)
    rt.store.audio_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=rt.store.audio_dir, prefix=".upload-") as tmp:
        spooled: list[Path] = []
        for i, (name, stream) in enumerate(files):
            safe = safe_file_name(name, f"upload-{i}")
            path = Path(tmp) / f"{i:03d}" / safe
            path.parent.mkdir()
            with path.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            spooled.append(path)
        out_subs = jobs.submit(
            rt.store,
            [*spooled, *local],
            case_number=number,
            starts_at=details.starts_at,
            courtroom=details.courtroom,
            presiding_judge=details.presiding_judge,
            clerk=details.clerk,
            options=options,
        )
    rt.wake()
    return out_subs
