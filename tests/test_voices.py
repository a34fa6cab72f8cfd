"""A case's voices (issue 17): a speaker named in one hearing proposed for the matching voice of the case's other
hearings, with real CAM++ embeddings of real speech (zh_constructed_6speakers' turns: voice A's turns split
between two hearings, so the two hearings hold different audio of one voice), real DuckDB, real accounts.

The built world: case CASE, hearing 1 with voices A (原告张三) and B (审判长李四) named, hearing 2 with voices
C and A unnamed; case OTHER_CASE holding voice A too (hearing 3: A named 被告王五; hearing 4: A unnamed).
A is proposed in hearing 2 with hearing 1's name, C is not, nothing crosses the cases; accepting is an audited
edit refused on a locked record; every route and verb as the wrong person (a viewer: 403; the other case's
clerk: 404 in a missing hearing's words); the CLI and the review page's box.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_calls import api, refused
from click.testing import CliRunner
from conftest import TESTDATA
from store_samples import CASE, OTHER_CASE, TESTER, court_accounts

from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript
from workbench.store import Locked, NotFound, Store, StoreError, audit
from workbench.store.voices import (
    ACCEPTED,
    DECLINED,
    VOICE_THRESHOLD,
    NamedVoice,
    UnnamedVoice,
    VoiceProposal,
    cosine,
    match_voices,
)

MISSING = "庭审不存在或无权查看 (not found or not yours)"
ZH6 = TESTDATA / "diarization" / "zh_constructed_6speakers"
# voice -> (the reference speaker, its turns used in hearing 1 (or the only ones), its turns for hearing 2)
VOICES = {"A": ("fangjun", (0, 2), (1, 3)), "B": ("leijun", (0, 1), ()), "C": ("S0901", (0, 1), ())}


@pytest.fixture(scope="module")
def voices() -> dict[str, np.ndarray]:
    """Mean CAM++ embeddings (the model the diarizer stores speakers with, loaded once here) of a few 2-5 s
    turns: A1 and A2 are voice A from different turns, B and C two other voices."""
    import torch

    from workbench.speech import audio
    from workbench.speech.diarization.pipeline import load_embedded

    campp = load_embedded().embedding
    samples = audio.load(ZH6.with_suffix(".wav"))
    turns: dict[str, list[tuple[float, float]]] = {}
    for line in ZH6.with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        turns.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))

    def mean_of(speaker: str, picks: tuple[int, ...]) -> np.ndarray:
        pieces = [samples[int(s * 16000) : int(e * 16000)] for s, e in (turns[speaker][i] for i in picks)]
        return np.mean([campp(torch.from_numpy(p)[None, None])[0] for p in pieces], axis=0)

    out = {}
    for voice, (speaker, first, second) in VOICES.items():
        out[voice if not second else f"{voice}1"] = mean_of(speaker, first)
        if second:
            out[f"{voice}2"] = mean_of(speaker, second)
    return out


def voice_transcript(speakers: list[tuple[str, np.ndarray]]) -> Transcript:
    """One segment per speaker, each speaker with its embedding, as a job stores them."""
    segments, summaries = [], []
    for i, (label, vector) in enumerate(speakers):
        segments.append(Segment(5.0 * i, 5.0 * i + 4.5, f"第{i + 1}段发言。", label, []))
        summaries.append(SpeakerSummary(label, 4.5, 5.0 * i, [float(x) for x in vector]))
    return Transcript("hearing.wav", "0" * 64, 5.0 * len(speakers), "zh", EngineInfo("funasr", "test"), segments,
                      summaries)  # fmt: skip


@dataclass(frozen=True)
class World:
    db: Path
    first: int  # CASE: A (S1, 原告张三) and B (S2, 审判长李四), named
    second: int  # CASE: C (S1) and A (S2), unnamed
    other_named: int  # OTHER_CASE: A (S1, 被告王五)
    other_unnamed: int  # OTHER_CASE: A (S1), unnamed


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory, voices: dict[str, np.ndarray]) -> World:
    db = tmp_path_factory.mktemp("voices") / "wb.duckdb"
    with Store(db) as store:
        case, other = (store.ensure_case(n, actor=TESTER).id for n in (CASE, OTHER_CASE))
        ids = []
        for case_id, speakers in ((case, [("S1", voices["A1"]), ("S2", voices["B"])]),
                                  (case, [("S1", voices["C"]), ("S2", voices["A2"])]),
                                  (other, [("S1", voices["A1"])]), (other, [("S1", voices["A2"])])):  # fmt: skip
            hid = store.add_hearing(case_id)
            store.save_transcript(hid, voice_transcript(speakers))
            ids.append(hid)
        store.set_speaker(ids[0], "S1", role="原告", name="张三", actor=TESTER)
        store.set_speaker(ids[0], "S2", role="审判长", name="李四", actor=TESTER)
        store.set_speaker(ids[2], "S1", role="被告", name="王五", actor=TESTER)
        court_accounts(store)
    return World(db, *ids)


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    db = tmp_path / "wb.duckdb"
    db.write_bytes(_template.db.read_bytes())
    return World(db, _template.first, _template.second, _template.other_named, _template.other_unnamed)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def names(store: Store, hid: int) -> dict[str, tuple[str | None, str | None]]:
    return {s.label: (s.role, s.name) for s in store.speakers(hid)}


def from_first(world: World) -> dict[str, Any]:
    return {"from_hearing": world.first, "from_label": "S1"}


# --- the proposals -----------------------------------------------------------------------------------


def test_the_voices_are_what_the_world_needs(voices: dict[str, np.ndarray]) -> None:
    """The real embeddings: A's two halves alike past the threshold, C and B unlike A (else the rest proves nothing)."""
    assert cosine(voices["A1"], voices["A2"]) >= VOICE_THRESHOLD + 0.05
    for a, b in (("A1", "C"), ("A2", "C"), ("A2", "B"), ("B", "C")):
        assert cosine(voices[a], voices[b]) < VOICE_THRESHOLD - 0.05, (a, b, cosine(voices[a], voices[b]))


def test_a_returning_voice_is_proposed_with_its_name_and_a_new_voice_is_not(store: Store, world: World) -> None:
    [p] = store.voice_proposals(world.second)  # C (S1) gets nothing; A (S2) gets hearing 1's 原告张三
    assert (p.label, p.from_hearing, p.from_label, p.role, p.name) == ("S2", world.first, "S1", "原告", "张三")
    assert VOICE_THRESHOLD <= p.similarity <= 1.0
    assert names(store, world.second) == {"S1": (None, None), "S2": (None, None)}  # never applied silently
    # hearing 1's speakers are named: nothing to propose there
    assert store.voice_proposals(world.first) == []
    with pytest.raises(NotFound):
        store.voice_proposals(99_999)


def test_nothing_crosses_cases(store: Store, world: World) -> None:
    # OTHER_CASE's unnamed A is proposed from its own case's hearing (被告王五), never from CASE's 原告张三
    [p] = store.voice_proposals(world.other_unnamed)
    assert (p.from_hearing, p.role, p.name) == (world.other_named, "被告", "王五")
    store.set_speaker(world.other_named, "S1", role="", name="", actor=TESTER)
    assert store.voice_proposals(world.other_unnamed) == []  # CASE's named A is not a candidate
    assert [q.from_hearing for q in store.voice_proposals(world.second)] == [world.first]
    # nor by naming it outright: another case's voice answers like a missing one
    with pytest.raises(NotFound, match="no such speaker in another hearing of this case"):
        store.accept_voice(world.second, "S2", world.other_named, "S1", actor=TESTER)
    e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S2/accept",
                {"from_hearing": world.other_named, "from_label": "S1"})  # fmt: skip
    assert e.status == 404
    assert names(store, world.second)["S2"] == (None, None)


def test_match_voices_is_one_to_one_and_leaves_declined_persons_out() -> None:
    a, a2, b = np.array([1.0, 0.0, 0.0]), np.array([0.95, 0.31, 0.0]), np.array([0.8, 0.6, 0.0])
    named = [NamedVoice(1, "S1", "原告", "张三", a)]
    both = [UnnamedVoice("S1", None, b), UnnamedVoice("S2", None, a2)]  # b: 0.8 to A, a2: 0.95
    assert {k: (s.label, round(x, 2)) for k, (s, x) in match_voices(both, named, threshold=0.7).items()} == {
        "S2": ("S1", 0.95)
    }  # fmt: skip  (the person goes to the closer voice only)
    assert match_voices(both, named, threshold=0.7, present={("原告", "张三")}) == {}  # already named in the hearing
    assert list(match_voices(both, named, threshold=0.7, declined={"S2": {("原告", "张三")}})) == ["S1"]
    assert match_voices(both, named, threshold=0.99) == {}
    role_only = [NamedVoice(1, "S1", "原告", None, a)]  # a role the speaker already has changes nothing
    assert match_voices([UnnamedVoice("S2", "原告", a2)], role_only, threshold=0.7) == {}
    assert cosine(np.zeros(3), a) is None and cosine(a, np.ones(4)) is None


# --- accept and decline ------------------------------------------------------------------------------


def test_accept_names_the_speaker_through_an_audited_edit(store: Store, world: World) -> None:
    [p] = api(store, "wang", "GET", f"/hearings/{world.second}/voices")["items"]
    assert (p["label"], p["display"], p["from_hearing"], p["from_label"]) == ("S2", "原告张三", world.first, "S1")
    s = api(store, "wang", "POST", f"/hearings/{world.second}/voices/S2/accept", from_first(world))
    assert (s["label"], s["role"], s["name"], s["display"]) == ("S2", "原告", "张三", "原告张三")
    assert s["version"] > 0
    assert names(store, world.second) == {"S1": (None, None), "S2": ("原告", "张三")}
    edits = [(e.field, e.before, e.after, e.user) for e in store.edits(hearing_id=world.second)]
    assert edits == [("role:S2", None, "原告", "wang"), ("name:S2", None, "张三", "wang")]
    rows = [(r.action, r.account, r.detail) for r in reversed(store.audit_rows(hearing_id=world.second))]
    assert [a for a, _, _ in rows][-3:] == ["speaker_changed", "speaker_changed", audit.VOICE_DECIDED]
    assert rows[-1][2] | {"similarity": None} == {"label": "S2", "from_hearing": world.first, "from_label": "S1",
                                                  "decision": ACCEPTED, "role": "原告", "name": "张三",
                                                  "similarity": None}  # fmt: skip
    assert [(d.label, d.decision, d.decided_by) for d in store.voice_decisions(world.second)] == [
        ("S2", ACCEPTED, "wang")]  # fmt: skip
    assert store.voice_proposals(world.second) == []  # named now
    assert store.verify_audit().ok
    # accepting again: the speaker is named already
    e = refused(store, "zhou", "POST", f"/hearings/{world.second}/voices/S2/accept", from_first(world))
    assert (e.status, e.error) == (409, "conflict")


def test_decline_keeps_the_decision_and_the_person_is_not_proposed_again(
    store: Store, world: World, voices: dict[str, np.ndarray]
) -> None:
    d = api(store, "zhou", "POST", f"/hearings/{world.second}/voices/S2/decline", from_first(world))
    assert (d["label"], d["decision"], d["decided_by"], d["from_hearing"]) == ("S2", DECLINED, "zhou", world.first)
    assert api(store, "zhou", "GET", f"/hearings/{world.second}/voices")["items"] == []
    assert names(store, world.second)["S2"] == (None, None)
    assert store.audit_rows(hearing_id=world.second)[0].action == audit.VOICE_DECIDED
    # the same person named in a third hearing of the case: still not proposed for that speaker
    third = store.add_hearing(store.hearing(world.first).case_id)
    store.save_transcript(third, voice_transcript([("S1", voices["A1"])]))
    store.set_speaker(third, "S1", role="原告", name="张三", actor=TESTER)
    assert store.voice_proposals(world.second) == []
    # a decision can be changed: accepting the declined pair (still similar enough) names the speaker
    store.accept_voice(world.second, "S2", world.first, "S1", actor=TESTER)
    assert names(store, world.second)["S2"] == ("原告", "张三")
    assert [d.decision for d in store.voice_decisions(world.second)] == [ACCEPTED]


def test_a_locked_hearing_refuses_accept_and_decline(store: Store, world: World) -> None:
    api(store, "wang", "POST", f"/hearings/{world.second}/check")
    api(store, "zhao", "POST", f"/hearings/{world.second}/approve")
    api(store, "wang", "POST", f"/hearings/{world.second}/lock")
    assert len(store.voice_proposals(world.second)) == 1  # listed; not applicable
    for verb in ("accept", "decline"):
        e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S2/{verb}", from_first(world))
        assert (e.status, e.error) == (409, "locked")
    with pytest.raises(Locked):
        store.accept_voice(world.second, "S2", world.first, "S1", actor=TESTER)
    assert names(store, world.second)["S2"] == (None, None)
    assert store.voice_decisions(world.second) == []


def test_a_voice_not_similar_enough_is_not_accepted(store: Store, world: World) -> None:
    # C (S1) is no one of hearing 1: naming it so is `speakers set`'s, not a proposal's
    e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S1/accept", from_first(world))
    assert (e.status, e.error) == (409, "refused") and "similarity below" in e.detail
    with pytest.raises(StoreError, match="相似度"):
        store.accept_voice(world.second, "S1", world.first, "S2", actor=TESTER)
    assert names(store, world.second)["S1"] == (None, None)


# --- the API as the wrong person, and bad input --------------------------------------------------------


def test_the_wrong_person_is_refused(store: Store, world: World) -> None:
    path = f"/hearings/{world.second}/voices"
    assert len(api(store, "qian", "GET", path)["items"]) == 1  # a viewer of the case reads
    for verb in ("accept", "decline"):
        e = refused(store, "qian", "POST", f"{path}/S2/{verb}", from_first(world))
        assert e.status == 403  # a viewer writes nothing
        e = refused(store, "li", "POST", f"{path}/S2/{verb}", from_first(world))
        assert (e.status, e.detail) == (404, MISSING)  # another case's clerk: as if there were no such hearing
    e = refused(store, "li", "GET", path)
    assert (e.status, e.detail) == (404, MISSING)
    e = refused(store, "li", "GET", "/hearings/99999/voices")
    assert (e.status, e.detail) == (404, MISSING)
    assert names(store, world.second)["S2"] == (None, None) and store.voice_decisions(world.second) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"from_hearing": 1}, "from_label: 必填"),
        ({"from_label": "S1"}, "from_hearing: 必填"),
        ({"from_hearing": "1", "from_label": "S1"}, "from_hearing: 类型不对"),
        ({"from_hearing": True, "from_label": "S1"}, "from_hearing: 类型不对"),
        ({"from_hearing": 0, "from_label": "S1"}, "from_hearing: 应不小于 1"),
        ({"from_hearing": 1, "from_label": "  "}, "from_label: 不能为空"),
        ({"from_hearing": 1, "from_label": "S1", "name": "张三"}, "name: 不认识的字段"),
        (["S1"], "请求体应为 JSON 对象"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(store: Store, world: World, body: Any, words: str) -> None:
    e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S2/accept", body)
    assert e.status == 422 and words in e.detail, e.detail


def test_an_unknown_speaker_or_voice_answers_not_found(store: Store, world: World) -> None:
    e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S9/accept", from_first(world))
    assert e.status == 404 and "S9" in e.detail
    e = refused(store, "wang", "POST", f"/hearings/{world.second}/voices/S2/decline",
                {"from_hearing": world.first, "from_label": "S7"})  # fmt: skip
    assert e.status == 404 and "no such speaker in another hearing of this case" in e.detail


# --- the CLI -----------------------------------------------------------------------------------------


def cli(world: World, *args: str, as_name: str) -> Any:
    return CliRunner().invoke(__import__("workbench.cli", fromlist=["main"]).main,
                              [*args, "--db", str(world.db), "--as", as_name])  # fmt: skip


def test_cli_lists_accepts_and_declines(world: World) -> None:
    second, first = str(world.second), str(world.first)
    out = cli(world, "voices", "list", second, as_name="wang")
    assert out.exit_code == 0, out.output
    assert f"S2 可能是 原告张三 (hearing {first}, S1) 相似度" in out.output and f"--from {first}:S1" in out.output
    out = cli(world, "voices", "decline", second, "S2", "--from", f"{first}:S1", as_name="zhou")
    assert out.exit_code == 0 and f"不是 {first}:S1" in out.output, out.output
    assert "没有推荐 (no voices proposed)" in cli(world, "voices", "list", second, as_name="wang").output
    out = cli(world, "voices", "accept", second, "S2", "--from", f"{first}:S1", as_name="wang")
    assert out.exit_code == 0 and "S2: 原告张三" in out.output, out.output
    with Store(world.db) as store:
        assert names(store, world.second)["S2"] == ("原告", "张三")


def test_cli_refuses_the_wrong_person_and_a_bad_from(world: World) -> None:
    second, first = str(world.second), str(world.first)
    for args in (("list", second), ("accept", second, "S2", "--from", f"{first}:S1")):
        out = cli(world, "voices", *args, as_name="li")
        assert out.exit_code == 1 and MISSING in out.output, out.output
    out = cli(world, "voices", "accept", second, "S2", "--from", f"{first}:S1", as_name="qian")
    assert out.exit_code == 1 and "viewer" in out.output, out.output
    for bad in ("S1", f"{first}S1", f"x:{first}", f"{first}:", "0:S1"):
        out = cli(world, "voices", "accept", second, "S2", "--from", bad, as_name="wang")
        assert out.exit_code == 2 and "expected HEARING:LABEL" in out.output, (bad, out.output)
    with Store(world.db) as store:
        assert names(store, world.second)["S2"] == (None, None)


# --- the review page's box ---------------------------------------------------------------------------


def _box_app(db: str, who: str, hearing_id: int) -> None:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store
    from workbench.web.voices import voices_box

    store = Store(db)
    voices_box(store, Access(store, Accounts(store).get(who), "test"), hearing_id)


def test_voices_box_confirms_with_one_click_and_shows_nothing_to_a_viewer(world: World) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_box_app, args=(str(world.db), "qian", world.second), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.markdown and not at.button  # a viewer: nothing to confirm
    at = AppTest.from_function(_box_app, args=(str(world.db), "wang", world.second), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    [text] = [html.unescape(m.value) for m in at.markdown]  # md_escape writes "." as "&#46;"
    assert text.startswith("S2 可能是原告张三（第1次庭审） 相似度 0.")
    assert [b.label for b in at.button] == ["确认", "不是"]
    next(b for b in at.button if b.label == "确认").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(world.db) as store:
        assert names(store, world.second)["S2"] == ("原告", "张三")
        assert [(d.decision, d.decided_by) for d in store.voice_decisions(world.second)] == [(ACCEPTED, "wang")]
    assert not at.button  # nothing left to propose


def test_proposal_text_names_the_hearing_by_its_place_in_the_case() -> None:
    from workbench.web.voices import proposal_text

    p = VoiceProposal("S3", 12, "S1", "原告", "张三", 0.8234)
    assert proposal_text(p, {12: 1, 15: 2}) == "S3 可能是原告张三（第1次庭审） 相似度 0.82"
    assert proposal_text(p, {}) == "S3 可能是原告张三（庭审 #12） 相似度 0.82"
