"""Watch folders: the server takes the recordings that courtroom recorders drop into folders.

Setting `watch_folders` names the folders (`;`-separated, each `FOLDER` or `FOLDER=COURTROOM`). A thread
(`Watcher.start`, started by `workbench.server.runtime.Runtime`) looks at each folder about once a second
with `os.scandir` and takes a file once its size and modification time (and its sidecar's) have not changed
for `watch_settle_s`: a recorder still writing, or a copy still running, keeps changing them.

What a file becomes comes from its name (`watch_pattern`: named groups case, courtroom, date YYYYMMDD,
time HHMM) or from a sidecar `<file>.json` (or `<stem>.json`) beside it, which overrides the name:
{case, starts_at, courtroom, judge, clerk, cause, options: {engine, language, speakers, diarize, hotwords}}.
The courtroom is the sidecar's, else the folder's (`FOLDER=COURTROOM`: the admin's word for that
recorder), else the name's. Write the sidecar before (or with) the recording: a recording that settles
alone is taken by its name.

Taking is `jobs.submit` (copied into the store by content, a hearing and its job made, audited UPLOADED)
as the `watch_as` account, or as the system (admin rights) when that is empty; then the source and its
sidecar are removed. The source goes only after the store committed, so a server stopped mid-copy loses
nothing; one stopped between the commit and the removal finds the file again on restart, and `submit`
answers that the same audio is already in that case (a duplicate), so it is only removed: nothing is
taken twice. Each take is audited WATCH_TAKEN and wakes the worker.

A file that cannot be taken (no sidecar and a name that does not match, a bad sidecar, not a recording,
audio that does not decode, a case the `watch_as` account may not add to, ...) is refused: it stays where
it is, `<name>.failed.txt` beside it says why (Chinese, English in brackets), WATCH_REFUSED is audited,
and it is not tried again until the .failed.txt is removed or the file (or its sidecar) changes. A folder
that is missing or unreadable is logged once and looked at again on every pass; nothing here stops the
server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench import settings
from workbench.accounts.access import Access
from workbench.accounts.roles import Forbidden, Role
from workbench.accounts.users import Account, Accounts
from workbench.intake import UPLOAD_TYPES, HearingDetails, check_details
from workbench.speech import audio
from workbench.speech.options import OptionsError, TranscribeOptions
from workbench.speech.text import Hotword, parse_hotwords
from workbench.store import audit, jobs
from workbench.store.records import NotFound
from workbench.store.store import Store

log = logging.getLogger("workbench.server.watch")

FAILED_SUFFIX = ".failed.txt"
SIDECAR_SUFFIX = ".json"
IGNORED_SUFFIXES = (".part", ".tmp", SIDECAR_SUFFIX, FAILED_SUFFIX)  # in the making, or ours
SIDECAR_MAX_BYTES = 64 << 10
SIDECAR_FIELDS = frozenset({"case", "starts_at", "courtroom", "judge", "clerk", "cause", "options"})
SIDECAR_OPTIONS = frozenset({"engine", "language", "speakers", "diarize", "hotwords"})
RETRY_AFTER_S = 30.0  # a take that failed for the server's reasons (disk full, database busy)
SYSTEM_NAME = audit.SYSTEM.account  # the watcher's own actor: "system", like the worker's


@dataclass(frozen=True, slots=True)
class Signature:
    """What must stay the same for `settle_s`: the file's lstat, and its sidecar's (None without one).

    The change times count too: a copy that keeps the old modification time (`cp -p`, rsync) still
    changes them, so a refused file replaced that way is tried again.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    sidecar: tuple[int, int, int] | None  # size, mtime_ns, ctime_ns

    @property
    def changed_ns(self) -> int:
        """When the file or its sidecar last changed."""
        return max(self.mtime_ns, self.ctime_ns, *(self.sidecar[1:] if self.sidecar else ()))


@dataclass(frozen=True, slots=True)
class WatchFolder:
    path: Path
    courtroom: str = ""  # `FOLDER=COURTROOM`: the courtroom of that folder's recorder


@dataclass(frozen=True, slots=True)
class WatchConfig:
    folders: tuple[WatchFolder, ...]
    pattern: re.Pattern[str]
    settle_s: float = 5.0
    account: str = ""  # `watch_as`; empty: the system, with an admin's rights
    poll_s: float = 1.0

    @classmethod
    def from_settings(cls, **given: Any) -> WatchConfig:
        """The watch settings (`given` wins: tests); ValueError naming the setting when one is bad."""
        folders = given.pop("folders", None)
        if folders is None:
            folders = parse_folders(str(settings.get("watch_folders") or ""))
        pattern = given.pop("pattern", None)
        if pattern is None or isinstance(pattern, str):
            pattern = compile_pattern(pattern if pattern is not None else str(settings.get("watch_pattern")))
        settle_s = float(given.pop("settle_s", settings.get("watch_settle_s")))
        if settle_s < 0:
            raise ValueError(f"watch_settle_s must be 0 or more, not {settle_s}")
        account = str(given.pop("account", settings.get("watch_as")) or "").strip()
        return cls(tuple(folders), pattern, settle_s, account, **given)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a pass did with one file: taken (a hearing, or the one that already held it) or refused."""

    file: Path
    taken: bool
    hearing_id: int | None = None
    job_id: int | None = None
    duplicate: bool = False
    reason: str = ""  # why it was refused


class Refusal(Exception):
    """A file that cannot be taken; the message (Chinese, English in brackets) goes into its .failed.txt."""


def parse_folders(text: str) -> tuple[WatchFolder, ...]:
    """`/srv/a=第三法庭;/srv/b` → the folders, each with its courtroom ("" when none is given)."""
    out = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        folder, eq, courtroom = part.rpartition("=")
        if not eq or not folder.strip() or "/" in courtroom or os.sep in courtroom:
            folder, courtroom = part, ""  # no courtroom given (or the '=' is part of the folder's name)
        out.append(WatchFolder(Path(folder.strip()).expanduser().absolute(), courtroom.strip()))
    return tuple(out)


def compile_pattern(text: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(text)
    except re.error as e:
        raise ValueError(f"watch_pattern is not a valid regular expression: {e}") from None
    unknown = set(pattern.groupindex) - {"case", "courtroom", "date", "time"}
    if unknown:
        raise ValueError(f"watch_pattern: unknown named group(s) {', '.join(sorted(unknown))}")
    return pattern


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES)


def system_access(store: Store, client: str) -> Access:
    """The watcher's own access when `watch_as` is empty: a non-person with an admin's rights, never stored
    (like the console operator of `access.console_access`); its rows say account "system"."""
    account = Account(
        id=None,
        name=SYSTEM_NAME,
        display_name="监视文件夹 (watch folders)",
        role=Role.ADMIN,
        source="system",
        must_change=False,
        disabled=False,
        created_at=datetime.now().replace(tzinfo=None),
    )
    return Access(store, account, client)


@dataclass(slots=True)
class _Pending:
    signature: Signature
    since: float  # monotonic time the signature was first seen


@dataclass(slots=True)
class _Details:
    hearing: HearingDetails
    options: TranscribeOptions


class Watcher:
    """Scans the watch folders and takes the settled recordings; `scan()` is one pass, `start()` a thread."""

    def __init__(
        self,
        store: Store,
        config: WatchConfig,
        *,
        on_taken: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.config = config
        self.on_taken = on_taken  # the runtime's wake: the worker looks at the queue now
        self.clock = clock
        self._pending: dict[Path, _Pending] = {}
        self._refused: dict[Path, Signature] = {}  # refused where no .failed.txt could be written
        self._kept: dict[Path, Signature] = {}  # taken, but the source could not be removed
        self._retry_at: dict[Path, float] = {}
        self._logged: set[str] = set()  # folder and configuration problems, logged once each
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread --

    def start(self) -> Watcher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="workbench-watch", daemon=True)
            self._thread.start()
            shown = "; ".join(f"{f.path}={f.courtroom}" if f.courtroom else str(f.path) for f in self.config.folders)
            log.info("watching %s (settled after %g s, as %s)", shown, self.config.settle_s, self._as_name)
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception:  # a pass must never end the thread: the next one starts over
                log.exception("watch pass failed; next pass in %g s", self.config.poll_s)
            self._stop.wait(self.config.poll_s)

    @property
    def _as_name(self) -> str:
        return self.config.account or f"{SYSTEM_NAME} (admin rights)"

    # -- one pass --

    def scan(self) -> list[Outcome]:
        """Looks at every folder once; takes or refuses the files that have settled. Returns what it did."""
        out: list[Outcome] = []
        seen: set[Path] = set()
        for folder in self.config.folders:
            if self._stop.is_set():
                break
            out += self._scan_folder(folder, seen)
        for path in set(self._pending) - seen:  # gone (taken by someone else, renamed, deleted)
            del self._pending[path]
        for memory in (self._refused, self._kept, self._retry_at):
            for path in set(memory) - seen:
                del memory[path]
        return out

    def _scan_folder(self, folder: WatchFolder, seen: set[Path]) -> list[Outcome]:
        if _inside(folder.path, self.store.audio_dir):
            self._once(
                f"store:{folder.path}",
                logging.ERROR,
                "watch folder %s is inside the store's audio; not watched",
                folder.path,
            )
            return []
        try:
            with os.scandir(folder.path) as it:
                entries = list(it)
        except OSError as e:
            self._once(
                f"folder:{folder.path}",
                logging.WARNING,
                "watch folder %s cannot be read (%s); looking again on every pass",
                folder.path,
                e.strerror or e,
            )
            return []
        if f"folder:{folder.path}" in self._logged:
            self._logged.discard(f"folder:{folder.path}")
            log.info("watch folder %s can be read again", folder.path)
        names = {e.name for e in entries}
        out = []
        now = self.clock()
        for entry in entries:
            if _ignored(entry.name):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    continue  # the folders are not watched recursively
                signature = _signature(path, names)
            except OSError:
                continue  # gone between the listing and the stat
            seen.add(path)
            if self._refused.get(path) == signature or self._kept.get(path) == signature:
                continue
            if self._marked_failed(path, signature, names):
                continue
            pending = self._pending.get(path)
            if pending is None or pending.signature != signature:
                self._pending[path] = _Pending(signature, now)
                continue
            if now - pending.since < self.config.settle_s or now < self._retry_at.get(path, 0.0):
                continue
            outcome = self._handle(folder, path, signature, names)
            if outcome is not None:
                out.append(outcome)
        return out

    @staticmethod
    def _marked_failed(path: Path, signature: Signature, names: set[str]) -> bool:
        """A .failed.txt no older than the file and its sidecar: refused before, and not changed since."""
        if path.name + FAILED_SUFFIX not in names:
            return False
        try:
            marked = path.with_name(path.name + FAILED_SUFFIX).stat().st_mtime_ns
        except OSError:
            return False
        return marked >= signature.changed_ns

    # -- one file --

    def _handle(self, folder: WatchFolder, path: Path, signature: Signature, names: set[str]) -> Outcome | None:
        client = f"watch:{folder.path}@{socket.gethostname()}"
        access = self._access(client)
        if access is None:
            return None  # a configuration problem (logged): the files wait, unrefused
        try:
            details = self._details(folder, path, names)
            access.require_upload_to(details.hearing.case_number)
            _check_audio(path)
        except (Refusal, Forbidden) as e:
            return self._refuse(folder, path, signature, str(e), access)
        try:
            [sub] = jobs.submit(
                self.store,
                [path],
                case_number=details.hearing.case_number,
                starts_at=details.hearing.starts_at,
                courtroom=details.hearing.courtroom,
                presiding_judge=details.hearing.presiding_judge,
                clerk=details.hearing.clerk,
                cause=details.hearing.cause,
                options=details.options,
                actor=access.actor,
            )
        except Exception as e:  # the server's trouble (disk, database), not the file's: try again later
            self._retry_at[path] = self.clock() + RETRY_AFTER_S
            log.warning("%s: could not be taken (%s); trying again in %.0f s", path, e, RETRY_AFTER_S)
            return None
        self._audit(
            access,
            audit.WATCH_TAKEN,
            folder,
            path,
            hearing_id=sub.hearing_id,
            extra={"hearing_id": sub.hearing_id, "job_id": sub.job_id, "duplicate": sub.duplicate},
        )
        self._pending.pop(path, None)
        self._retry_at.pop(path, None)
        try:
            now_signature = _signature(path, names)
        except OSError:
            now_signature = None
        if now_signature != signature:
            # Written to again after it had settled: what the store holds may be a part. The source
            # stays and is taken again once it settles (a new hearing, or a duplicate if it is the same).
            log.warning("%s changed while it was being taken; it stays and is taken again once settled", path)
        else:
            self._remove_source(path, signature, names)
        if not sub.duplicate and self.on_taken is not None:
            self.on_taken()
        log.info(
            "took %s from %s: hearing %d%s",
            path.name,
            folder.path,
            sub.hearing_id,
            " (already stored: the source is removed)" if sub.duplicate else f", job {sub.job_id}",
        )
        return Outcome(path, True, sub.hearing_id, sub.job_id, sub.duplicate)

    def _access(self, client: str) -> Access | None:
        if not self.config.account:
            return system_access(self.store, client)
        name = self.config.account
        try:
            account = Accounts(self.store).get(name)
        except NotFound:
            self._once(f"as:{name}", logging.ERROR, "watch_as %r: no such account; watched files wait", name)
            return None
        access = Access(self.store, account, client)
        if not access.may_upload():
            why = "disabled" if account.disabled else f"a {account.role.value} may not upload"
            self._once(f"as:{name}", logging.ERROR, "watch_as %r: %s; watched files wait", name, why)
            return None
        self._logged.discard(f"as:{name}")
        return access

    def _details(self, folder: WatchFolder, path: Path, names: set[str]) -> _Details:
        info = path.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise Refusal("不是普通文件，链接、设备等不予导入 (not a regular file: links and devices are not taken)")
        if path.suffix.lower().lstrip(".") not in UPLOAD_TYPES:
            raise Refusal(f"不是支持的录音格式（{', '.join(UPLOAD_TYPES)}）(not a recording)")
        max_mb = int(settings.get("ingest_max_mb"))
        if info.st_size > max_mb << 20:
            raise Refusal(f"文件 {info.st_size / (1 << 20):.0f} MB，超过上限 {max_mb} MB (larger than ingest_max_mb)")
        sidecar_name = _sidecar_name(path.name, names)
        sidecar = _read_sidecar(path.with_name(sidecar_name)) if sidecar_name else {}
        match = self.config.pattern.search(path.stem)
        if match is None and not sidecar_name:
            raise Refusal(
                f"文件名不符合命名规则，也没有附带的 {path.name}{SIDECAR_SUFFIX} "
                f"(the name does not match watch_pattern and there is no sidecar {path.name}{SIDECAR_SUFFIX})"
            )
        named = {k: v for k, v in (match.groupdict() if match else {}).items() if v}
        case_number = sidecar.get("case") or named.get("case", "")
        if not str(case_number).strip():
            raise Refusal("没有案号：文件名和附带的 JSON 都未给出 (no case number in the name or the sidecar)")
        if "starts_at" in sidecar:
            starts_at = _parse_starts_at(sidecar["starts_at"])
        else:
            starts_at = _date_time(named.get("date"), named.get("time"))
        hearing = HearingDetails(
            case_number=str(case_number).strip(),
            starts_at=starts_at,
            courtroom=sidecar.get("courtroom") or folder.courtroom or named.get("courtroom", ""),
            presiding_judge=sidecar.get("judge", ""),
            clerk=sidecar.get("clerk", ""),
            cause=sidecar.get("cause", ""),
        )
        try:
            check_details(hearing)
        except ValueError as e:
            raise Refusal(str(e)) from None
        return _Details(hearing, _options(sidecar.get("options") or {}))

    def _refuse(self, folder: WatchFolder, path: Path, signature: Signature, reason: str, access: Access) -> Outcome:
        self._pending.pop(path, None)
        marker = path.with_name(path.name + FAILED_SUFFIX)
        text = (
            f"{reason}\n\n"
            f"{datetime.now():%Y-%m-%d %H:%M:%S} 未导入 (not taken). 修正后删除本文件即可重试，"
            "或更新录音及其 JSON 文件 (remove this file, or change the recording or its sidecar, to try again).\n"
        )
        tmp = path.with_name(f".{path.name}{FAILED_SUFFIX}.tmp")  # hidden: never taken for a recording
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(marker)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            self._refused[path] = signature  # no note to say so: this process remembers instead
            log.warning("%s: refused, and %s could not be written (%s)", path, marker.name, e.strerror or e)
        self._audit(access, audit.WATCH_REFUSED, folder, path, extra={"reason": reason})
        log.warning("refused %s: %s", path, reason)
        return Outcome(path, False, reason=reason)

    def _remove_source(self, path: Path, signature: Signature, names: set[str]) -> None:
        sidecar = _sidecar_name(path.name, names)
        try:
            _remove(path)
        except OSError as e:
            self._kept[path] = signature  # not taken again by this process; a restart finds a duplicate
            log.warning("%s was taken but could not be removed (%s); remove it by hand", path, e.strerror or e)
            return
        for name in (sidecar, path.name + FAILED_SUFFIX):
            if name is not None and name in names:
                try:
                    _remove(path.with_name(name))
                except OSError as e:
                    log.warning("%s could not be removed (%s)", path.with_name(name), e.strerror or e)

    def _audit(
        self,
        access: Access,
        action: str,
        folder: WatchFolder,
        path: Path,
        *,
        hearing_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        case_id = None
        if hearing_id is not None:
            with contextlib.suppress(NotFound):
                case_id = self.store.hearing(hearing_id).case_id
        detail = {"folder": str(folder.path), "file": path.name, **(extra or {})}
        with self.store.writing() as con:
            audit.append(con, access.actor, action, case_id=case_id, hearing_id=hearing_id, detail=detail)

    def _once(self, key: str, level: int, message: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, message, *args)


def _signature(path: Path, names: set[str]) -> Signature:
    """A fresh lstat (a DirEntry caches its own) of the file and of its sidecar."""
    info = path.stat(follow_symlinks=False)
    sidecar = _sidecar_name(path.name, names)
    side = None
    if sidecar is not None:
        try:
            s = path.with_name(sidecar).stat(follow_symlinks=False)
            side = (s.st_size, s.st_mtime_ns, s.st_ctime_ns)
        except OSError:
            side = None
    return Signature(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, side)


def _inside(folder: Path, audio_dir: Path) -> bool:
    try:
        return folder.resolve().is_relative_to(audio_dir.resolve())
    except (OSError, RuntimeError):
        return False


def _remove(path: Path) -> None:
    """Removes a taken source (its own function: the crash tests stop a take here)."""
    path.unlink()


def _sidecar_name(name: str, names: set[str]) -> str | None:
    """`x.mp3.json`, else `x.json`, when it is in the folder."""
    for candidate in (name + SIDECAR_SUFFIX, Path(name).stem + SIDECAR_SUFFIX):
        if candidate in names:
            return candidate
    return None


def _read_sidecar(path: Path) -> dict[str, Any]:
    shown = path.name
    try:
        with path.open("rb") as f:
            raw = f.read(SIDECAR_MAX_BYTES + 1)
    except OSError as e:
        raise Refusal(f"附带的 {shown} 无法读取 (the sidecar cannot be read: {e.strerror or e})") from None
    if len(raw) > SIDECAR_MAX_BYTES:
        raise Refusal(f"附带的 {shown} 超过 {SIDECAR_MAX_BYTES >> 10} KB (the sidecar is too large)")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refusal(f"附带的 {shown} 不是有效的 JSON (the sidecar is not valid JSON: {e})") from None
    if not isinstance(data, dict):
        raise Refusal(f"附带的 {shown} 应为一个 JSON 对象 (the sidecar must be a JSON object)")
    unknown = set(data) - SIDECAR_FIELDS
    if unknown:
        raise Refusal(
            f"附带的 {shown} 含未知字段 {', '.join(sorted(unknown))} "
            f"(unknown sidecar field(s); expected {', '.join(sorted(SIDECAR_FIELDS))})"
        )
    for key in SIDECAR_FIELDS - {"options"}:
        if key in data and not isinstance(data[key], str):
            raise Refusal(f"附带的 {shown} 中 {key} 应为文本 (sidecar field {key} must be a string)")
    if "options" in data and not isinstance(data["options"], dict):
        raise Refusal(f"附带的 {shown} 中 options 应为对象 (sidecar field options must be an object)")
    return data


def _parse_starts_at(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refusal(
            f"开庭时间 {text[:40]!r} 无效，应为 2024-03-05T09:30 (starts_at is not an ISO 8601 time)"
        ) from None
    return when.astimezone().replace(tzinfo=None) if when.tzinfo else when  # the store keeps local times


def _date_time(date: str | None, clock: str | None) -> datetime | None:
    if not date:
        return None
    text, fmt = (date + (clock or "0000"), "%Y%m%d%H%M")
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        raise Refusal(
            f"文件名中的日期或时间 {date}-{clock or ''} 无效 (not a valid date YYYYMMDD and time HHMM)"
        ) from None


def _options(given: Mapping[str, Any]) -> TranscribeOptions:
    unknown = set(given) - SIDECAR_OPTIONS
    if unknown:
        raise Refusal(
            f"转写选项 {', '.join(sorted(unknown))} 未知 "
            f"(unknown option(s); expected {', '.join(sorted(SIDECAR_OPTIONS))})"
        )
    values = dict(given)
    if "speakers" in values and isinstance(values["speakers"], int) and not isinstance(values["speakers"], bool):
        values["speakers"] = str(values["speakers"])
    if "diarize" in values and not isinstance(values["diarize"], bool):
        raise Refusal("转写选项 diarize 应为 true 或 false (option diarize must be true or false)")
    for key in ("engine", "language", "speakers"):
        if key in values and not isinstance(values[key], str):
            raise Refusal(f"转写选项 {key} 应为文本 (option {key} must be a string)")
    if "hotwords" in values:
        values["hotwords"] = _hotwords(values["hotwords"])
    try:
        return TranscribeOptions.from_settings(**values)
    except (OptionsError, TypeError, ValueError) as e:
        raise Refusal(f"转写选项无效 (bad options: {e})") from None


def _hotwords(given: Any) -> tuple[Hotword, ...]:
    """["术语", "术语 2.0", ["术语", 2.0]] → hotwords."""
    if not isinstance(given, list):
        raise Refusal("转写选项 hotwords 应为列表 (option hotwords must be a list)")
    words: list[Hotword] = []
    for item in given:
        if isinstance(item, str):
            words += parse_hotwords(item)
        elif (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int | float)
            and not isinstance(item[1], bool)
        ):
            words.append(Hotword(item[0].strip(), float(item[1])))
        else:
            raise Refusal(f"热词 {str(item)[:40]!r} 无效 (a hotword is a string or [term, weight])")
    return tuple(w for w in words if w.term)


def _check_audio(path: Path) -> None:
    """The recording opens and its first second decodes (a probe alone passes random bytes named .mp3)."""
    try:
        audio.probe(path)
        with contextlib.closing(audio.blocks(path, block_seconds=1.0)) as blocks:
            next(blocks, None)
    except audio.AudioError as e:
        raise Refusal(f"录音无法解码：{e.reason} (the audio cannot be decoded)") from None
    except OSError as e:
        raise Refusal(f"录音无法读取 (the recording cannot be read: {e.strerror or e})") from None
