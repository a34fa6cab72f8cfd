"""A case's voices: a speaker named in one hearing proposed for the matching voice in the case's other hearings.

Each speaker row keeps the mean CAM++ embedding of its speech (`speakers.embedding`: the diarizer's cluster
centroid for a mono hearing, the seat's mean embedding for a channel one; the same model, so they compare).
For each speaker of a hearing that has no name yet, `voice_proposals` names the most similar named speaker
(role or name given) of ANOTHER hearing of THE SAME CASE, when the cosine similarity is at least
`VOICE_THRESHOLD`. Never across cases: the candidates are read by the hearing's own case id.

A proposal is only a proposal: `accept_voice` gives the speaker the proposed role and name through
`set_speaker` (an edit of the record: edits rows, audit rows, refused on a locked record) and keeps the
decision; `decline_voice` keeps the decision, and that pair is not proposed again (the next most similar
voice may be). Decisions live in `voice_decisions`, each with its audit row.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from workbench.store import audit
from workbench.store.audit import Actor
from workbench.store.cases import case_of, require_unlocked
from workbench.store.records import SPEAKER_SQL, Conflict, NotFound, Speaker, StoreError, speaker_from_row
from workbench.store.segments import Segments

# Cosine similarity of two mean CAM++ embeddings from which a named voice is proposed; `bench/voices.py` (its
# table in the README). On 21 voices of the shared test audio (six constructed Mandarin speakers, two AMI
# voices in two recordings, two more AMI and two tutorial voices, the modelscope pair, the asr clips'
# readers), each recording cut in two "hearings", 95 same-voice and 2810 different-voice pairs, stored
# centroids (mono hearings) and seat means (channel hearings) alike: the highest different-voice similarity
# is 0.677 (two people on one far-field meeting microphone, diarized from 15 s); from 0.68 the store's
# proposals hold no wrong name. 0.73 keeps a 0.05 margin above that and still gives 63% of returning voices
# their name (the other returning voices are named by hand, as today). A wrong name accepted in a hurry is
# worse than a click saved, hence the margin on the false-accept side.
VOICE_THRESHOLD = 0.73
ACCEPTED = "accepted"
DECLINED = "declined"

NO_VOICE = "本案其他庭审没有这个说话人 (no such speaker in another hearing of this case)"


@dataclass(frozen=True, slots=True)
class VoiceProposal:
    """Speaker `label` of the hearing may be `from_label` of hearing `from_hearing` (same case): its role and name."""

    label: str
    from_hearing: int
    from_label: str
    role: str | None
    name: str | None
    similarity: float

    def display(self) -> str:
        """ "原告张三", "审判长" or "张三": what the speaker would be shown as."""
        return (self.role or "") + (self.name or "")


@dataclass(frozen=True, slots=True)
class VoiceDecision:
    hearing_id: int
    label: str
    from_hearing: int
    from_label: str
    decision: str  # ACCEPTED | DECLINED
    decided_by: str
    decided_at: datetime


DECISION_SQL = (
    "SELECT hearing_id, label, from_hearing, from_label, decision, decided_by, decided_at FROM voice_decisions"
)


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cosine similarity; None when the two cannot be compared (other dimensions, a zero or non-finite vector).

    Plain Python, no numpy: the store is imported by verbs that install without the speech stack (`models pull`
    from a wheelhouse), and a case holds a few dozen 192-value embeddings."""
    if len(a) != len(b) or not len(a):
        return None
    na, nb = math.sqrt(math.fsum(x * x for x in a)), math.sqrt(math.fsum(y * y for y in b))
    if not (na > 0 and nb > 0 and math.isfinite(na) and math.isfinite(nb)):
        return None
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


@dataclass(frozen=True, slots=True)
class NamedVoice:
    """A named speaker (role or name given) of one of the case's hearings, with its embedding."""

    hearing_id: int
    label: str
    role: str | None
    name: str | None
    vector: tuple[float, ...]

    @property
    def person(self) -> tuple[str, str]:
        """Who the clerk said it is: one person however many hearings name them."""
        return (self.role or "", self.name or "")


@dataclass(frozen=True, slots=True)
class UnnamedVoice:
    """A speaker of the hearing with no name yet (perhaps a role, from its seat), with its embedding."""

    label: str
    role: str | None
    vector: tuple[float, ...]


def match_voices(
    unnamed: Sequence[UnnamedVoice],
    named: Sequence[NamedVoice],
    *,
    threshold: float = VOICE_THRESHOLD,
    present: Collection[tuple[str, str]] = (),
    declined: Mapping[str, Collection[tuple[str, str]]] | None = None,
) -> dict[str, tuple[NamedVoice, float]]:
    """Speaker label -> (the named voice proposed for it, similarity): one to one, most similar pairs first.

    A pair is a candidate when its cosine similarity is at least `threshold`, accepting it would change the
    speaker, and the speaker has not declined that person (`declined`: label -> persons). Then, most similar
    first, each speaker gets at most one person and each person at most one speaker of the hearing, and no
    person already named in it (`present`): one person is one voice in a hearing. Two people recorded in one
    room sound alike to CAM++ (the bench's highest different-voice pairs are such); when both are in the
    hearing, the right one is the more similar and takes the name, instead of both being offered it.
    """
    declined = declined or {}
    pairs = []
    for target in unnamed:
        for source in named:
            if source.person in declined.get(target.label, ()):
                continue
            if not (source.name or (source.role is not None and source.role != target.role)):
                continue  # it would change nothing: a role-only voice for a speaker that already has that role
            similarity = cosine(target.vector, source.vector)
            if similarity is not None and similarity >= threshold:
                pairs.append((similarity, target.label, source.hearing_id, source.label, source))
    out: dict[str, tuple[NamedVoice, float]] = {}
    taken = set(present)
    for similarity, label, _, _, source in sorted(pairs, key=lambda p: (-p[0], p[1], p[2], p[3])):
        if label in out or source.person in taken:
            continue
        out[label] = (source, similarity)
        taken.add(source.person)
    return out


def _vector(embedding: Iterable[float] | None) -> tuple[float, ...] | None:
    if embedding is None:
        return None
    v = tuple(float(x) for x in embedding)
    return v or None


def _named_voices(con: duckdb.DuckDBPyConnection, case_id: int, hearing_id: int) -> list[NamedVoice]:
    """The named speakers (role or name given) with an embedding, of the case's hearings other than `hearing_id`."""
    rows = con.execute(
        "SELECT s.hearing_id, s.label, s.role, s.name, s.embedding FROM speakers s "
        "JOIN hearings h ON h.id = s.hearing_id "
        "WHERE h.case_id = ? AND s.hearing_id <> ? AND s.embedding IS NOT NULL "
        "AND (coalesce(s.role, '') <> '' OR coalesce(s.name, '') <> '') ORDER BY s.hearing_id, s.label",
        [case_id, hearing_id],
    ).fetchall()
    out = []
    for hid, label, role, name, embedding in rows:
        vector = _vector(embedding)
        if vector is not None:
            out.append(NamedVoice(int(hid), str(label), role or None, name or None, vector))
    return out


class Voices(Segments):
    """Voice proposals within a case."""

    def voice_proposals(self, hearing_id: int, *, threshold: float = VOICE_THRESHOLD) -> list[VoiceProposal]:
        """For the speakers of the hearing without a name (in order of first appearance), the named voices of the
        case's other hearings that match them (`match_voices`: at `threshold` or above, one to one, declined
        persons left out); NotFound for no such hearing. A locked hearing's are listed too (accepting is refused)."""
        with self.reading() as con:
            case_id = case_of(con, hearing_id)
            named = _named_voices(con, case_id, hearing_id)
            decided = con.execute(
                "SELECT d.label, s.role, s.name FROM voice_decisions d JOIN speakers s "
                "ON s.hearing_id = d.from_hearing AND s.label = d.from_label WHERE d.hearing_id = ? AND d.decision = ?",
                [hearing_id, DECLINED],
            ).fetchall()
        if not named:
            return []
        declined: dict[str, set[tuple[str, str]]] = {}
        for label, role, name in decided:  # the person as the declined speaker is named now
            declined.setdefault(str(label), set()).add((role or "", name or ""))
        speakers = self.speakers(hearing_id)
        unnamed = [
            UnnamedVoice(s.label, s.role, v) for s in speakers if not s.name and (v := _vector(s.embedding)) is not None
        ]
        present = {(s.role or "", s.name) for s in speakers if s.name}
        matched = match_voices(unnamed, named, threshold=threshold, present=present, declined=declined)
        return [
            VoiceProposal(t.label, source.hearing_id, source.label, source.role, source.name, round(similarity, 4))
            for t in unnamed
            if t.label in matched
            for source, similarity in [matched[t.label]]
        ]

    def voice_decisions(self, hearing_id: int) -> list[VoiceDecision]:
        """The hearing's decisions on proposed voices, oldest first."""
        with self.reading() as con:
            rows = con.execute(DECISION_SQL + " WHERE hearing_id = ? ORDER BY decided_at, label", [hearing_id])
            return [VoiceDecision(*r) for r in rows.fetchall()]

    def _candidate(
        self, con: duckdb.DuckDBPyConnection, hearing_id: int, label: str, from_hearing: int, from_label: str
    ) -> tuple[int, Speaker, NamedVoice, float | None]:
        """The hearing's case, its speaker `label` and the named voice `from_hearing:from_label` of the same case,
        and their similarity; NotFound for a missing hearing or speaker, and for a voice of another case in the
        words of a missing one (a hearing's number says nothing of other cases)."""
        case_id = case_of(con, hearing_id)
        row = con.execute(SPEAKER_SQL + " WHERE hearing_id = ? AND label = ?", [hearing_id, label]).fetchone()
        if row is None:
            raise NotFound(f"庭审 {hearing_id} 没有说话人 {label} (hearing {hearing_id} has no speaker {label})")
        target = speaker_from_row(row)  # the one reading of a speakers row: channel and seat too
        wanted = (from_hearing, from_label)
        source = next((n for n in _named_voices(con, case_id, hearing_id) if (n.hearing_id, n.label) == wanted), None)
        if source is None:
            raise NotFound(f"{from_hearing}:{from_label}: {NO_VOICE}")
        vector = _vector(target.embedding)
        return case_id, target, source, None if vector is None else cosine(vector, source.vector)

    def accept_voice(self, hearing_id: int, label: str, from_hearing: int, from_label: str, *, actor: Actor) -> Speaker:
        """Speaker `label` is `from_label` of hearing `from_hearing`: it gets that speaker's role and name (as
        `set_speaker` gives them: audited edits, refused on a locked record: `Locked`) and the decision is kept, in
        one transaction.

        Refused (`Conflict`) when the speaker already has a name, and (`StoreError`) when the voices are not
        similar enough to be proposed (`VOICE_THRESHOLD`): naming by hand is `set_speaker`'s, not this.
        """
        with self.writing() as con:  # the check, the naming and the decision under one write lock
            require_unlocked(con, hearing_id)
            _, target, source, similarity = self._candidate(con, hearing_id, label, from_hearing, from_label)
            if target.name:
                raise Conflict(
                    f"{label} 已有姓名 {target.name}，请重新加载 ({label} is already named {target.name}: reload)"
                )
            if similarity is None or similarity < VOICE_THRESHOLD:
                shown = "无法比较 (no comparable embedding)" if similarity is None else f"{similarity:.2f}"
                raise StoreError(
                    f"{label} 与 {from_hearing}:{from_label} 的声音相似度 {shown} 低于 {VOICE_THRESHOLD}，不作推荐；"
                    f"可手动指定说话人 (similarity below {VOICE_THRESHOLD}: not proposed; name the speaker by hand)"
                )
            self.name_speaker(con, hearing_id, label, role=source.role, name=source.name, actor=actor)
            self._decide(con, hearing_id, label, source, ACCEPTED, similarity, actor)
        return next(s for s in self.speakers(hearing_id) if s.label == label)

    def decline_voice(
        self, hearing_id: int, label: str, from_hearing: int, from_label: str, *, actor: Actor
    ) -> VoiceDecision:
        """Speaker `label` is not `from_label` of hearing `from_hearing`: kept (audited), not proposed again.
        Refused on a locked record (`Locked`), like every write to it."""
        with self.writing() as con:
            require_unlocked(con, hearing_id)
            _, _, source, similarity = self._candidate(con, hearing_id, label, from_hearing, from_label)
            self._decide(con, hearing_id, label, source, DECLINED, similarity, actor)
            row = con.execute(
                DECISION_SQL + " WHERE hearing_id = ? AND label = ? AND from_hearing = ? AND from_label = ?",
                [hearing_id, label, source.hearing_id, source.label],
            ).fetchone()
        return VoiceDecision(*row)

    @staticmethod
    def _decide(
        con: duckdb.DuckDBPyConnection,
        hearing_id: int,
        label: str,
        source: NamedVoice,
        decision: str,
        similarity: float | None,
        actor: Actor,
    ) -> None:
        """The decision row (a later decision on the same pair replaces it) and its audit row."""
        con.execute(
            "INSERT INTO voice_decisions (hearing_id, label, from_hearing, from_label, decision, decided_by, "
            "decided_at) VALUES (?, ?, ?, ?, ?, ?, current_timestamp) ON CONFLICT DO UPDATE SET "
            "decision = excluded.decision, decided_by = excluded.decided_by, decided_at = excluded.decided_at",
            [hearing_id, label, source.hearing_id, source.label, decision, actor.account],
        )
        audit.append(
            con, actor, audit.VOICE_DECIDED, case_id=case_of(con, hearing_id), hearing_id=hearing_id,
            detail={"label": label, "from_hearing": source.hearing_id, "from_label": source.label,
                    "decision": decision, "role": source.role, "name": source.name,
                    "similarity": None if similarity is None else round(similarity, 4)},
        )  # fmt: skip
