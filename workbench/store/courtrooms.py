"""Courtroom profiles (which seat and role each microphone channel is) and a case's roster (who takes part).

A profile belongs to a courtroom by the name hearings use (`hearings.courtroom`, e.g. 第三法庭): one channel-map item
per channel of the courtroom's recorder (`workbench.speech.seats`, stored in normal form "审判席:审判长"). A job for a
hearing in that courtroom whose recording has exactly that many channels is transcribed channel by channel
(`workbench.server.worker`). Admins change profiles; anyone signed in reads them (the check is the caller's).

A roster is a case's participants: role (审判长, 原告, 代理人, ...), name, and the seat they sit at when known. Their
names join the case's hotwords for its jobs, and name the speakers of a new transcript without a click
(`roster_speaker_names`, applied by `Segments.save_transcript` in the transcript's own transaction): a name is given
only where exactly one participant fits, and never over a name already given.

Every change appends its audit row in the same transaction (`COURTROOM_CHANGED`, `ROSTER_CHANGED`). Neither is part
of a hearing's record, so neither is refused on a locked hearing: a speaker's name reaches a record only through a
new transcript, which the lock refuses itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from workbench.speech.seats import ChannelSeat, channels_spec, parse_channels
from workbench.store import audit
from workbench.store.audit import Actor
from workbench.store.cases import Cases
from workbench.store.records import Conflict, NotFound, StoreError

COURTROOM_MAX = 64  # as a hearing's courtroom field takes it (web.pagedata.NAME_MAX)
ROLE_MAX = 40
PERSON_MAX = 64
SEAT_MAX = 40
ROSTER_MAX = 200  # participants of one case: a roster, not a register

COURTROOM_SQL = "SELECT name, channels, updated_by, updated_at FROM courtrooms"
PARTICIPANT_SQL = "SELECT id, case_id, role, name, seat FROM case_participants"


class BadEntry(StoreError, ValueError):
    """A profile's or roster entry's field that cannot be stored; the message names the field and why (the API's
    422, as a ValueError)."""


@dataclass(frozen=True, slots=True)
class Courtroom:
    """A courtroom's profile: one channel-map item per channel of its recordings, in channel order."""

    name: str
    channels: tuple[str, ...]
    updated_by: str
    updated_at: datetime

    @property
    def seats(self) -> tuple[ChannelSeat, ...]:
        return parse_channels(self.channels)


@dataclass(frozen=True, slots=True)
class Participant:
    """One person of a case's roster; `seat` is "" when not known."""

    id: int
    case_id: int
    role: str
    name: str
    seat: str = ""

    def display(self) -> str:
        """审判长张三 (原告席): how lists show them."""
        return f"{self.role}{self.name}" + (f"（{self.seat}）" if self.seat else "")


@dataclass(frozen=True, slots=True)
class SeatedSpeaker:
    """What `roster_speaker_names` needs of a speaker: its label, seat (None on a mono recording), role and name now."""

    label: str
    seat: str | None
    role: str | None
    name: str | None


def _courtroom_from_row(row: Sequence[object]) -> Courtroom:
    name, channels, by, at = row
    return Courtroom(str(name), tuple(json.loads(str(channels))), str(by), at)  # type: ignore[arg-type]


def participant_from_row(row: Sequence[object]) -> Participant:
    pid, case_id, role, name, seat = row
    return Participant(int(pid), int(case_id), str(role), str(name), str(seat or ""))  # type: ignore[call-overload]


def _text(value: object, what_zh: str, what_en: str, limit: int, *, required: bool = True) -> str:
    """A stripped one-line text of at most `limit` characters; BadEntry naming it otherwise."""
    if not isinstance(value, str):
        raise BadEntry(f"{what_zh}应为文字 ({what_en} must be text, got {type(value).__name__})")
    text = value.strip()
    if required and not text:
        raise BadEntry(f"{what_zh}不能为空 ({what_en} is required)")
    if len(text) > limit:
        raise BadEntry(f"{what_zh}过长，最多 {limit} 字 ({what_en} is longer than {limit} characters)")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadEntry(f"{what_zh}不能含控制字符或换行 ({what_en} must be one line without control characters)")
    return text


def check_participant(role: object, name: object, seat: object = "") -> tuple[str, str, str]:
    """A roster entry's role, name and seat as stored (stripped); BadEntry naming the field and why otherwise: a
    role or name empty, a field too long or with a control character. What `add_participant` refuses, for callers
    that check a whole batch before they take anything (the upload page)."""
    return (
        _text(role, "角色", "the role", ROLE_MAX),
        _text(name, "姓名", "the name", PERSON_MAX),
        _text(seat or "", "席位", "the seat", SEAT_MAX, required=False),
    )


def courtroom_name(value: object) -> str:
    """A courtroom's name as profiles key it (stripped); BadEntry when empty, too long, or with a '/' (the name
    travels in the API's path: /courtrooms/{name})."""
    name = _text(value, "法庭名称", "the courtroom's name", COURTROOM_MAX)
    if "/" in name or "\\" in name:
        raise BadEntry(f"法庭名称不能含斜杠 (the courtroom's name must not contain '/' or '\\': {name!r})")
    return name


class Courtrooms(Cases):
    """Courtroom profiles and case rosters."""

    # -- courtroom profiles --

    def set_courtroom(self, name: str, channels: str | Iterable[str], *, actor: Actor) -> Courtroom:
        """Creates or replaces the profile of courtroom `name`: `channels` as `workbench.speech.seats` reads them
        ("审判长,原告,被告,-" or its items); stored in normal form. Audited with the channels before and after.

        Raises `SeatsError` (a ValueError) for a map that cannot be read, `BadEntry` for a bad name.
        """
        name = courtroom_name(name)
        spec = channels_spec(parse_channels(channels))
        with self.writing() as con:
            row = con.execute("SELECT channels FROM courtrooms WHERE name = ?", [name]).fetchone()
            before = json.loads(row[0]) if row else None
            if before == list(spec):
                return self.courtroom(name)
            con.execute(
                "INSERT INTO courtrooms (name, channels, updated_by, updated_at) VALUES (?, ?, ?, current_timestamp) "
                "ON CONFLICT (name) DO UPDATE SET channels = excluded.channels, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                [name, json.dumps(list(spec), ensure_ascii=False), actor.account],
            )
            audit.append(
                con, actor, audit.COURTROOM_CHANGED,
                detail={"courtroom": name, "before": before, "after": list(spec)},
            )  # fmt: skip
        return self.courtroom(name)

    def courtroom(self, name: str) -> Courtroom:
        """The profile of courtroom `name`; NotFound naming it otherwise."""
        found = self.find_courtroom(name)
        if found is None:
            raise NotFound(
                f"法庭 {str(name).strip()} 没有声道配置 (no profile for courtroom {str(name).strip()!r}): "
                "`workbench courtrooms list` shows them, `courtrooms set NAME --channels ...` makes one"
            )
        return found

    def find_courtroom(self, name: str | None) -> Courtroom | None:
        """The profile of courtroom `name`, None when it has none (or no name is given)."""
        if not isinstance(name, str) or not name.strip():
            return None
        with self.reading() as con:
            row = con.execute(COURTROOM_SQL + " WHERE name = ?", [name.strip()]).fetchone()
        return _courtroom_from_row(row) if row else None

    def courtrooms(self) -> list[Courtroom]:
        """Every profile, by name."""
        with self.reading() as con:
            rows = con.execute(COURTROOM_SQL + " ORDER BY name").fetchall()
        return [_courtroom_from_row(r) for r in rows]

    def delete_courtroom(self, name: str, *, actor: Actor) -> Courtroom:
        """Removes courtroom `name`'s profile (its hearings are processed as mono mixes from then on); audited with
        what it was. Returns the profile removed; NotFound when there is none."""
        gone = self.courtroom(name)
        with self.writing() as con:
            deleted = con.execute("DELETE FROM courtrooms WHERE name = ? RETURNING name", [gone.name]).fetchone()
            if deleted is None:  # removed meanwhile by someone else
                raise NotFound(f"法庭 {gone.name} 没有声道配置 (no profile for courtroom {gone.name!r})")
            audit.append(
                con, actor, audit.COURTROOM_CHANGED,
                detail={"courtroom": gone.name, "before": list(gone.channels), "after": None},
            )  # fmt: skip
        return gone

    # -- a case's roster --

    def add_participant(self, case_id: int, role: str, name: str, seat: str = "", *, actor: Actor) -> Participant:
        """Adds a person to case `case_id`'s roster; audited. A bad field is refused (`BadEntry`, see
        `check_participant`), the same role, name and seat twice too (`Conflict`), as is a roster of more than
        ROSTER_MAX people."""
        entry = check_participant(role, name, seat)
        with self.writing() as con:
            existing = self._roster_entries(con, case_id)
            if entry in existing:
                role, name, seat = entry
                raise Conflict(
                    f"名单中已有{role}{name}{f'（{seat}）' if seat else ''} "
                    f"(the roster already has {role} {name}{f' at {seat}' if seat else ''})"
                )
            [added] = self._insert_participants(con, case_id, [entry], len(existing), actor)
        return added

    def add_participants(
        self, case_id: int, entries: Sequence[tuple[str, str, str]], *, actor: Actor
    ) -> list[Participant]:
        """Adds the (role, name, seat) entries to case `case_id`'s roster in one transaction, each audited: all or
        none. An entry already on the roster (or twice in `entries`) is skipped; returns the participants added.
        `BadEntry` for a bad field (naming the entry), `Conflict` when the roster would pass ROSTER_MAX."""
        checked: list[tuple[str, str, str]] = []
        for i, (role, name, seat) in enumerate(entries, 1):
            try:
                checked.append(check_participant(role, name, seat))
            except BadEntry as e:
                raise BadEntry(f"名单第 {i} 行 (roster entry {i}): {e}") from None
        with self.writing() as con:
            existing = self._roster_entries(con, case_id)
            new = [e for e in dict.fromkeys(checked) if e not in existing]
            return self._insert_participants(con, case_id, new, len(existing), actor)

    @staticmethod
    def _roster_entries(con: duckdb.DuckDBPyConnection, case_id: int) -> set[tuple[str, str, str]]:
        """The case's roster as (role, name, seat); NotFound for no such case."""
        if con.execute("SELECT 1 FROM cases WHERE id = ?", [case_id]).fetchone() is None:
            raise NotFound(f"no case {case_id}: `workbench cases list` shows the cases")
        rows = con.execute("SELECT role, name, seat FROM case_participants WHERE case_id = ?", [case_id]).fetchall()
        return {(str(r), str(n), str(s or "")) for r, n, s in rows}

    @staticmethod
    def _insert_participants(
        con: duckdb.DuckDBPyConnection,
        case_id: int,
        entries: Sequence[tuple[str, str, str]],
        there: int,
        actor: Actor,
    ) -> list[Participant]:
        """Inserts checked entries (`there`: the roster's size now) with their audit rows, in the caller's
        transaction; Conflict when the roster would pass ROSTER_MAX."""
        if there + len(entries) > ROSTER_MAX:
            raise Conflict(
                f"名单最多 {ROSTER_MAX} 人，本案已有 {there} 人 (a roster has at most {ROSTER_MAX} people; "
                f"this one has {there})"
            )
        added = []
        for role, name, seat in entries:
            pid = int(
                con.execute(
                    "INSERT INTO case_participants (case_id, role, name, seat, created_by) VALUES (?, ?, ?, ?, ?) "
                    "RETURNING id",
                    [case_id, role, name, seat, actor.account],
                ).fetchone()[0]
            )
            audit.append(
                con, actor, audit.ROSTER_CHANGED, case_id=case_id,
                detail={"added": {"id": pid, "role": role, "name": name, "seat": seat}},
            )  # fmt: skip
            added.append(Participant(pid, case_id, role, name, seat))
        return added

    def participants(self, case_id: int) -> list[Participant]:
        """Case `case_id`'s roster in the order it was entered."""
        with self.reading() as con:
            rows = con.execute(PARTICIPANT_SQL + " WHERE case_id = ? ORDER BY id", [case_id]).fetchall()
        return [participant_from_row(r) for r in rows]

    def participant(self, participant_id: int) -> Participant:
        with self.reading() as con:
            row = con.execute(PARTICIPANT_SQL + " WHERE id = ?", [participant_id]).fetchone()
        if row is None:
            raise NotFound(
                f"名单中没有 {participant_id} (no roster entry {participant_id}): `workbench roster list CASE`"
            )
        return participant_from_row(row)

    def remove_participant(self, participant_id: int, *, actor: Actor, case_id: int | None = None) -> Participant:
        """Takes a person off their case's roster (names already given to speakers stay); audited with who it was.

        With `case_id`, an entry of another case is NotFound like a missing one (the API passes the case asked for).
        """
        with self.writing() as con:
            row = con.execute(PARTICIPANT_SQL + " WHERE id = ?", [participant_id]).fetchone()
            if row is None or (case_id is not None and int(row[1]) != case_id):
                raise NotFound(
                    f"名单中没有 {participant_id} (no roster entry {participant_id} in this case): "
                    "`workbench roster list CASE` shows them"
                )
            gone = participant_from_row(row)
            con.execute("DELETE FROM case_participants WHERE id = ?", [participant_id])
            audit.append(
                con, actor, audit.ROSTER_CHANGED, case_id=gone.case_id,
                detail={"removed": {"id": gone.id, "role": gone.role, "name": gone.name, "seat": gone.seat}},
            )  # fmt: skip
        return gone


def roster_speaker_names(speakers: Sequence[SeatedSpeaker], roster: Sequence[Participant]) -> dict[str, str]:
    """The name each unnamed speaker takes from the roster (label -> name), where exactly one participant fits:

    1. seat and role: the one participant at the speaker's seat with the speaker's role;
    2. else seat alone: the one participant at that seat, when the speaker is the one voice heard at that seat
       (a shared seat's voices are not told apart by the roster) and the participant's role does not contradict the
       speaker's;
    3. else role alone: the one participant with the speaker's role in the whole roster, when their seats do not
       contradict.

    A participant fitting two speakers names neither: the roster never guesses. Speakers with a name keep it.
    """
    at_seat = Counter(s.seat for s in speakers if s.seat)
    chosen: dict[str, Participant] = {}
    for s in speakers:
        if s.name:
            continue
        fits: list[Participant] = []
        if s.seat and s.role:
            fits = [p for p in roster if p.seat == s.seat and p.role == s.role]
        if not fits and s.seat and at_seat[s.seat] == 1:
            seated = [p for p in roster if p.seat == s.seat]
            if len(seated) == 1 and (not s.role or seated[0].role == s.role):
                fits = seated
        if not fits and s.role:
            same_role = [p for p in roster if p.role == s.role]
            if len(same_role) == 1 and not (s.seat and same_role[0].seat and same_role[0].seat != s.seat):
                fits = same_role
        if len(fits) == 1:
            chosen[s.label] = fits[0]
    taken = Counter(p.id for p in chosen.values())
    return {label: p.name for label, p in chosen.items() if taken[p.id] == 1}


def roster_hotwords(roster: Iterable[Participant]) -> tuple[str, ...]:
    """The roster's names, each once, in roster order: what joins the case's hotwords for a job."""
    return tuple(dict.fromkeys(p.name for p in roster if p.name))
