"""Small hearings for the store, search and jobs tests (no models)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript, Word
from workbench.store import Store
from workbench.store.audit import Actor

TESTER = Actor("tester", "test")  # who the store tests' writes are made as (no account: no membership)
CONSOLE = Actor("cli:test", "test", role="admin")  # an admin at the server's console (the API tests' setup)
PASSWORD = "correct horse battery 9"

CASE = "（2024）京0105民初1234号"
OTHER_CASE = "（2024）京0105民初9999号"

LINES = [
    ("S1", "现在开庭，请原告陈述诉讼请求。"),
    ("S2", "The plaintiff submits Exhibit A-3 as evidence of the breach of contract."),
    ("S3", "被告张三丰对证据三的真实性有异议，认为借条并非本人签字。"),
    ("S2", "原告请求判令被告支付货款人民币十二万元及逾期利息。"),
    ("S1", "Objection noted. The contract was signed in Shanghai."),
]


def transcript(lines: list[tuple[str, str]] | None = None, *, step: float = 5.0) -> Transcript:
    lines = lines or LINES
    segments = []
    for i, (spk, text) in enumerate(lines):
        start = i * step
        segments.append(Segment(start, start + step - 0.5, text, spk, [Word(start, start + 0.5, text[:2], 0.9)]))
    labels = sorted({s for s, _ in lines}, key=lambda s: int(s[1:]))
    return Transcript(
        file="hearing.wav",
        sha256="0" * 64,
        duration=len(lines) * step,
        language="zh",
        engine=EngineInfo("whisper", "test-model"),
        segments=segments,
        speakers=[SpeakerSummary(s, 1.0, float(i), [0.1 * i, 0.2, 0.3]) for i, s in enumerate(labels)],
    )


def hearing(store: Store, lines: list[tuple[str, str]] | None = None, *, case: str = CASE, **kw: object) -> int:
    """A stored hearing with a transcript; returns its id."""
    c = store.ensure_case(case, actor=TESTER)
    hid = store.add_hearing(c.id, **kw)  # type: ignore[arg-type]
    store.save_transcript(hid, transcript(lines))
    return hid


def audio_file(folder: Path, name: str = "a.wav", content: bytes = b"RIFF....WAVEfake") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def court_accounts(store: Store) -> None:
    """The API tests' people: root (admin); wang and zhou (clerks), zhao (judge) and qian (viewer), members of
    CASE; li (clerk), a member of OTHER_CASE only. Both cases must exist."""
    from workbench.accounts import Access, Accounts, Role

    accounts = Accounts(store)
    people = {}
    for name, role in (("root", Role.ADMIN), ("wang", Role.CLERK), ("zhou", Role.CLERK), ("zhao", Role.JUDGE),
                       ("qian", Role.VIEWER), ("li", Role.CLERK)):  # fmt: skip
        people[name] = accounts.add(name, role, by=CONSOLE, password=PASSWORD, must_change=False)[0]
    root = Access(store, people["root"], "test")
    for name in ("wang", "zhou", "zhao", "qian"):
        root.grant(CASE, name)
    root.grant(OTHER_CASE, "li")


@dataclass(frozen=True)
class Court:
    """A store file with a hearing of each case and `court_accounts`: what the API, desk, sign-off, issuing and
    verify tests start from. `own` is of CASE (wang, zhou clerks; zhao judge; qian viewer), `other` of
    OTHER_CASE (li)."""

    db: Path
    own: int
    other: int


def court(
    folder: Path,
    own: list[tuple[str, str]],
    other: list[tuple[str, str]],
    setup: Callable[[Store], object] | None = None,
    *,
    make: Callable[[list[tuple[str, str]]], Transcript] = transcript,
) -> Court:
    """The file, made once per test module (copy it per test with `court_copy`); `setup` adds to it, `make`
    turns (speaker, text) lines into the transcript stored."""
    db = folder / "wb.duckdb"
    with Store(db) as store:
        own_id, other_id = (
            store.add_hearing(store.ensure_case(number, actor=TESTER).id) for number in (CASE, OTHER_CASE)
        )
        store.save_transcript(own_id, make(own))
        store.save_transcript(other_id, make(other))
        court_accounts(store)
        if setup is not None:
            setup(store)
    return Court(db, own_id, other_id)


def court_copy(template: Court, folder: Path) -> Court:
    """A test's own copy of the module's court file: a test changes it freely."""
    db = folder / "wb.duckdb"
    shutil.copyfile(template.db, db)
    return replace(template, db=db)
