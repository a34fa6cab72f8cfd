"""Courtroom profiles and case rosters (issue 17): the store (real DuckDB, audited), the roster's naming rules, the
transcript's speakers filled from a channel recording and the roster without a click, the job applying the
courtroom's profile to a recording with as many channels (a warning otherwise) and the roster's names joining the
hotwords, and the CLI verbs, each as the wrong person too. The API's routes: tests/test_api_courtrooms.py.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from store_samples import CASE, OTHER_CASE, TESTER, Court, court, court_copy, transcript

from workbench.cli import main
from workbench.progress import ProgressHook
from workbench.server.worker import run_next
from workbench.speech.options import TranscribeOptions
from workbench.speech.seats import SeatsError
from workbench.speech.text import Hotword
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript
from workbench.store import Conflict, NotFound, Store, audit, jobs
from workbench.store.courtrooms import (
    ROSTER_MAX,
    BadEntry,
    Participant,
    SeatedSpeaker,
    check_participant,
    roster_speaker_names,
)

ROOM = "第三法庭"
FOUR = "审判长,原告,被告,-"
FOUR_NORMAL = ["审判席:审判长", "原告席:原告", "被告席:被告", "-"]
LINES = [("S1", "现在开庭。"), ("S2", "原告陈述。"), ("S3", "被告答辩。")]


def speaker_seats(store: Store, hearing_id: int) -> dict[str, tuple[int | None, str | None]]:
    """Each speaker's channel and seat (label -> (channel, seat)); (None, None) on a mono recording."""
    return {s.label: (s.channel, s.seat) for s in store.speakers(hearing_id)}


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Court:
    return court(tmp_path_factory.mktemp("courtrooms"), LINES, [("S1", "另案。")])


@pytest.fixture
def world(_template: Court, tmp_path: Path) -> Court:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: Court) -> Any:
    with Store(world.db) as s:
        yield s


def rows_of(store: Store, action: str) -> list[audit.AuditRow]:
    return [r for r in reversed(store.audit_rows()) if r.action == action]  # oldest first


# --- profiles ----------------------------------------------------------------------------------------


def test_a_profile_is_stored_in_normal_form_changed_and_deleted_each_audited(store: Store) -> None:
    made = store.set_courtroom(f"  {ROOM} ", FOUR, actor=TESTER)
    assert (made.name, list(made.channels), made.updated_by) == (ROOM, FOUR_NORMAL, "tester")
    assert [s.role for s in made.seats] == ["审判长", "原告", "被告", None]
    assert store.courtroom(ROOM) == made
    store.set_courtroom("第一法庭", ["审判席:审判长", "原告席:原告+代理人"], actor=TESTER)
    assert [c.name for c in store.courtrooms()] == sorted(["第一法庭", ROOM])

    changed = store.set_courtroom(ROOM, "审判长,原告,被告,证人", actor=TESTER)
    assert changed.channels[-1] == "证人席:证人"
    store.set_courtroom(ROOM, "审判长,原告,被告,证人", actor=TESTER)  # the same again: nothing to record
    gone = store.delete_courtroom(ROOM, actor=TESTER)
    assert gone.channels == changed.channels
    assert store.find_courtroom(ROOM) is None
    with pytest.raises(NotFound, match="没有声道配置"):
        store.courtroom(ROOM)
    with pytest.raises(NotFound):
        store.delete_courtroom(ROOM, actor=TESTER)

    rows = rows_of(store, audit.COURTROOM_CHANGED)
    logged = [(r.detail["courtroom"], r.detail["before"], r.detail["after"]) for r in rows]
    assert logged == [
        (ROOM, None, FOUR_NORMAL),
        ("第一法庭", None, ["审判席:审判长", "原告席:原告+代理人"]),
        (ROOM, FOUR_NORMAL, [*FOUR_NORMAL[:3], "证人席:证人"]),
        (ROOM, [*FOUR_NORMAL[:3], "证人席:证人"], None),
    ]
    assert store.verify_audit().ok


def test_a_bad_profile_is_refused_naming_what(store: Store) -> None:
    with pytest.raises(SeatsError, match="缺少席位"):
        store.set_courtroom(ROOM, "审判长,:原告", actor=TESTER)
    with pytest.raises(SeatsError, match="没有席位"):
        store.set_courtroom(ROOM, "-,mix", actor=TESTER)
    with pytest.raises(BadEntry, match="斜杠"):
        store.set_courtroom("三/四法庭", FOUR, actor=TESTER)
    with pytest.raises(BadEntry, match="不能为空"):
        store.set_courtroom("  ", FOUR, actor=TESTER)
    assert store.courtrooms() == [] and rows_of(store, audit.COURTROOM_CHANGED) == []


# --- the roster --------------------------------------------------------------------------------------


def test_a_roster_is_added_listed_and_removed_each_audited(store: Store) -> None:
    case = store.case(CASE)
    judge = store.add_participant(case.id, " 审判长 ", "张三", actor=TESTER)
    plaintiff = store.add_participant(case.id, "原告", "李四", "原告席", actor=TESTER)
    assert store.participants(case.id) == [judge, plaintiff]
    assert (judge.role, judge.name, judge.seat) == ("审判长", "张三", "")
    assert plaintiff.display() == "原告李四（原告席）"
    with pytest.raises(Conflict, match="已有原告李四"):
        store.add_participant(case.id, "原告", "李四", "原告席", actor=TESTER)
    with pytest.raises(BadEntry, match="姓名不能为空"):
        store.add_participant(case.id, "原告", " ", actor=TESTER)
    with pytest.raises(BadEntry, match="控制字符"):
        store.add_participant(case.id, "原告", "王\n五", actor=TESTER)
    with pytest.raises(NotFound):
        store.add_participant(99_999, "原告", "王五", actor=TESTER)

    other = store.case(OTHER_CASE)
    with pytest.raises(NotFound):  # another case's entry through this case: as a missing one
        store.remove_participant(plaintiff.id, actor=TESTER, case_id=other.id)
    assert store.remove_participant(plaintiff.id, actor=TESTER, case_id=case.id) == plaintiff
    assert store.participants(case.id) == [judge]
    details = [r.detail for r in rows_of(store, audit.ROSTER_CHANGED)]
    assert details == [
        {"added": {"id": judge.id, "role": "审判长", "name": "张三", "seat": ""}},
        {"added": {"id": plaintiff.id, "role": "原告", "name": "李四", "seat": "原告席"}},
        {"removed": {"id": plaintiff.id, "role": "原告", "name": "李四", "seat": "原告席"}},
    ]
    assert all(r.case_id == case.id for r in rows_of(store, audit.ROSTER_CHANGED))


def test_a_batch_of_roster_entries_is_checked_whole_and_added_all_or_none(store: Store) -> None:
    """What the upload page saves: every entry checked with `check_participant` (the same rules as one entry), one
    transaction, entries already there skipped, and nothing added when one is bad or the roster would overflow."""
    case = store.case(CASE)
    assert check_participant(" 原告 ", " 李四 ", None) == ("原告", "李四", "")
    for bad, why in ((("原告", "王\t五", ""), "控制字符"), (("原告", "李四", "席" * 41), "席位过长"),
                     (("角" * 41, "李四", ""), "角色过长"), (("", "李四", ""), "角色不能为空")):  # fmt: skip
        with pytest.raises(BadEntry, match=why):
            check_participant(*bad)
    store.add_participant(case.id, "审判长", "张三", actor=TESTER)
    with pytest.raises(BadEntry, match=r"名单第 2 行.*控制字符"):
        store.add_participants(case.id, [("原告", "李四", "原告席"), ("被告", "赵\x07六", "")], actor=TESTER)
    assert [p.name for p in store.participants(case.id)] == ["张三"]  # the good first entry is not half saved

    added = store.add_participants(
        case.id, [("审判长", "张三", ""), ("原告", "李四", "原告席"), ("原告", "李四", "原告席")], actor=TESTER
    )
    assert [(p.role, p.name) for p in added] == [("原告", "李四")]  # the one there and the repeat: skipped
    many = [("证人", f"证人{i}", "") for i in range(ROSTER_MAX - 1)]
    with pytest.raises(Conflict, match=f"名单最多 {ROSTER_MAX} 人"):
        store.add_participants(case.id, many, actor=TESTER)
    assert len(store.participants(case.id)) == 2
    assert [r.detail["added"]["name"] for r in rows_of(store, audit.ROSTER_CHANGED)] == ["张三", "李四"]


def test_the_upload_pages_roster_check_refuses_what_the_store_would(store: Store) -> None:
    from workbench.web.courtrooms import RosterRow, check_roster

    check_roster([RosterRow("原告", "李四", "原告席")])
    with pytest.raises(BadEntry, match=r"名单第 2 行.*控制字符"):
        check_roster([RosterRow("原告", "李四"), RosterRow("被告", "赵\x1b六")])
    with pytest.raises(BadEntry, match=r"名单第 1 行.*席位过长"):
        check_roster([RosterRow("原告", "李四", "席" * 41)])
    known = [_p(i, "证人", f"证人{i}") for i in range(ROSTER_MAX)]
    check_roster([RosterRow("证人", "证人0")], known)  # already there: not one more
    with pytest.raises(BadEntry, match=f"名单最多 {ROSTER_MAX} 人"):
        check_roster([RosterRow("原告", "李四")], known)


# --- the naming rules --------------------------------------------------------------------------------


def _p(pid: int, role: str, name: str, seat: str = "") -> Participant:
    return Participant(pid, 1, role, name, seat)


ROSTER = [
    _p(1, "审判长", "张三"),  # no seat: found by role
    _p(2, "原告", "李四", "原告席"),
    _p(3, "代理人", "王五", "原告席"),  # shares the plaintiff's table
    _p(4, "被告", "赵六", "被告席"),
    _p(5, "证人", "孙七", "证人席"),
]


def test_names_come_from_seat_and_role_then_seat_then_role() -> None:
    speakers = [
        SeatedSpeaker("S1", "审判席", "审判长", None),  # role alone (张三 has no seat)
        SeatedSpeaker("S2", "原告席", "原告", None),  # seat and role: 李四, though 王五 sits there too
        SeatedSpeaker("S3", "被告席", None, None),  # seat alone: the one voice there, the one person there
        SeatedSpeaker("S4", "证人席", "证人", "孙某"),  # named already: kept
    ]
    assert roster_speaker_names(speakers, ROSTER) == {"S1": "张三", "S2": "李四", "S3": "赵六"}


def test_the_roster_never_guesses() -> None:
    shared = [SeatedSpeaker("S1", "原告席", None, None), SeatedSpeaker("S2", "原告席", None, None)]
    assert roster_speaker_names(shared, ROSTER) == {}  # two voices at one table, two people there: no name
    one_voice = [SeatedSpeaker("S1", "原告席", None, None)]
    assert roster_speaker_names(one_voice, ROSTER) == {}  # one voice, but two people sit there
    contradicts = [SeatedSpeaker("S1", "被告席", "第三人", None)]
    assert roster_speaker_names(contradicts, ROSTER) == {}  # the one person at 被告席 is the 被告, not a 第三人
    elsewhere = [SeatedSpeaker("S1", "审判席", "证人", None)]
    assert roster_speaker_names(elsewhere, ROSTER) == {}  # the one 证人 sits at 证人席, not 审判席
    two_roles = [*ROSTER, _p(6, "审判长", "周八")]
    assert roster_speaker_names([SeatedSpeaker("S1", None, "审判长", None)], two_roles) == {}
    twice = [SeatedSpeaker("S1", None, "被告", None), SeatedSpeaker("S2", None, "被告", None)]
    assert roster_speaker_names(twice, ROSTER) == {}  # one 赵六 for two speakers: neither
    mono = [SeatedSpeaker("S1", None, None, None)]
    assert roster_speaker_names(mono, ROSTER) == {}  # mono, no role: nothing to go on


# --- a transcript's speakers -------------------------------------------------------------------------


def channel_transcript() -> Transcript:
    """What the channel engine returns for 审判长,原告,被告,- with 原告席 shared by two voices."""
    segments = [
        Segment(0.0, 3.0, "现在开庭。", "S1"),
        Segment(3.5, 6.0, "原告陈述诉讼请求。", "S2"),
        Segment(5.5, 7.0, "反对。", "S3"),  # overlaps S2: heard on its own channel
        Segment(7.5, 9.0, "补充一点。", "S4"),
    ]
    speakers = [
        SpeakerSummary("S1", 3.0, 0.0, [0.1, 0.2], channel=0, seat="审判席", role="审判长"),
        SpeakerSummary("S2", 2.5, 3.5, [0.2, 0.1], channel=1, seat="原告席", role="原告"),
        SpeakerSummary("S3", 1.5, 5.5, [0.3, 0.3], channel=2, seat="被告席", role="被告"),
        SpeakerSummary("S4", 1.5, 7.5, [0.4, 0.1], channel=1, seat="原告席", role=None),
    ]
    return Transcript("court.wav", "1" * 64, 9.0, "zh", EngineInfo("funasr", "paraformer", channels=tuple(FOUR_NORMAL)),
                      segments, speakers)  # fmt: skip


def test_a_channel_transcript_fills_seats_roles_and_roster_names_without_a_click(store: Store, world: Court) -> None:
    case_id = store.hearing(world.own).case_id
    store.add_participant(case_id, "审判长", "张三", "审判席", actor=TESTER)
    store.add_participant(case_id, "原告", "李四", "原告席", actor=TESTER)
    store.add_participant(case_id, "被告", "赵六", actor=TESTER)
    store.save_transcript(world.own, channel_transcript())

    speakers = {s.label: s for s in store.speakers(world.own)}
    assert {k: s.display() for k, s in speakers.items()} == {"S1": "审判长张三", "S2": "原告李四", "S3": "被告赵六",
                                                             "S4": "S4"}  # fmt: skip
    assert speaker_seats(store, world.own) == {"S1": (0, "审判席"), "S2": (1, "原告席"), "S3": (2, "被告席"),
                                              "S4": (1, "原告席")}  # fmt: skip
    filled = sorted((e.field, e.before, e.after) for e in store.edits(hearing_id=world.own)
                    if e.segment_id is None and e.user == "system")  # fmt: skip
    assert filled == sorted([("role:S1", None, "审判长"), ("role:S2", None, "原告"), ("role:S3", None, "被告"),
                             ("name:S1", None, "张三"), ("name:S2", None, "李四"),
                             ("name:S3", None, "赵六")])  # fmt: skip

    # the clerk corrects a name; the same voices again (a retry by channel): nothing given is overwritten
    store.set_speaker(world.own, "S3", name="赵某", actor=TESTER)
    store.save_transcript(world.own, channel_transcript())
    assert {s.label: s.display() for s in store.speakers(world.own)}["S3"] == "被告赵某"
    changed = [r for r in store.audit_rows(hearing_id=world.own) if r.action == audit.SPEAKER_CHANGED]
    assert {r.account for r in changed} == {"tester", "system"}  # the job's filling, then the clerk's naming
    assert store.verify_audit().ok

    # a mono re-run: the labels are another diarization's, so the seats go and with them the roles and names
    store.save_transcript(world.own, transcript([("S1", "重新识别。"), ("S2", "第二段。")]))
    assert speaker_seats(store, world.own)["S1"] == (None, None)
    assert {s.label: s.display() for s in store.speakers(world.own) if s.label in ("S1", "S2")} == {
        "S1": "S1",
        "S2": "S2",
    }


def test_a_re_run_by_channel_names_the_new_voices_not_with_the_old_names(store: Store, world: Court) -> None:
    """A mono hearing named by the clerk, then transcribed again by channel (the profile offer's re-run): the labels
    are handed out afresh, so mono S1 (named 审判长张三) may now be the voice at 原告席. Each moved speaker's old role
    and name are cleared as audited edits, its voice decisions dropped, and the seat's role and roster name given."""
    case_id = store.hearing(world.own).case_id
    store.add_participant(case_id, "原告", "李四", "原告席", actor=TESTER)
    store.set_speaker(world.own, "S1", role="审判长", name="张三", actor=TESTER)
    store.set_speaker(world.own, "S2", role="被告", actor=TESTER)
    other_hearing = store.add_hearing(case_id)
    with store.writing() as con:  # S2's proposal was declined in the mono run; S1 named another hearing's voice
        con.execute(
            "INSERT INTO voice_decisions (hearing_id, label, from_hearing, from_label, decision, decided_by, "
            "decided_at) VALUES (?, 'S2', ?, 'S1', 'declined', 'tester', current_timestamp), "
            "(?, 'S5', ?, 'S1', 'declined', 'tester', current_timestamp), "
            "(?, 'S3', ?, 'S9', 'declined', 'tester', current_timestamp)",
            [world.own, other_hearing, other_hearing, world.own, world.own, other_hearing],
        )
    moved = Transcript(
        "court.wav", "1" * 64, 6.0, "zh", EngineInfo("funasr", "paraformer", channels=tuple(FOUR_NORMAL)),
        [Segment(0.0, 3.0, "原告陈述。", "S1"), Segment(3.0, 6.0, "现在开庭。", "S2")],
        [SpeakerSummary("S1", 3.0, 0.0, [0.2, 0.1], channel=1, seat="原告席", role="原告"),
         SpeakerSummary("S2", 3.0, 3.0, [0.1, 0.2], channel=0, seat="审判席", role="审判长")],
    )  # fmt: skip
    store.save_transcript(world.own, moved)

    shown = {s.label: s.display() for s in store.speakers(world.own)}
    assert (shown["S1"], shown["S2"]) == ("原告李四", "审判长")
    system = [(e.field, e.before, e.after) for e in store.edits(hearing_id=world.own)
              if e.segment_id is None and e.user == "system"]  # fmt: skip
    assert system == [("role:S1", "审判长", None), ("name:S1", "张三", None), ("role:S2", "被告", None),
                      ("role:S1", None, "原告"), ("role:S2", None, "审判长"), ("name:S1", None, "李四")]  # fmt: skip
    with store.reading() as con:
        left = con.execute("SELECT hearing_id, label FROM voice_decisions ORDER BY label").fetchall()
    assert left == [(world.own, "S3")]  # the untouched S3's decision stays; S2's and the one made from S1 go
    assert store.verify_audit().ok


def test_a_mono_transcript_names_a_speaker_the_clerk_gave_a_role(store: Store, world: Court) -> None:
    case_id = store.hearing(world.own).case_id
    store.add_participant(case_id, "原告", "李四", actor=TESTER)
    store.set_speaker(world.own, "S2", role="原告", actor=TESTER)
    store.save_transcript(world.own, transcript([("S1", "现在开庭。"), ("S2", "原告陈述。")]))
    assert {s.label: s.display() for s in store.speakers(world.own)} == {"S1": "S1", "S2": "原告李四", "S3": "S3"}
    other = store.hearing(world.other)  # another case's roster names nothing here
    store.save_transcript(other.id, transcript([("S1", "另案。")]))
    assert [s.name for s in store.speakers(other.id)] == [None]


# --- the job -----------------------------------------------------------------------------------------


def wav(path: Path, channels: int, seconds: float = 0.5) -> Path:
    """A real PCM WAV of `channels` channels (a different tone on each), as a courtroom recorder writes."""
    t = np.arange(int(16000 * seconds)) / 16000
    data = np.stack([0.2 * np.sin(2 * np.pi * (200 + 100 * c) * t) for c in range(channels)], axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((data * 32767).astype("<i2").tobytes())
    return path


class Pipeline:
    """Stands in for pipeline.transcribe in a unit test of the worker: records the options, returns `result`."""

    def __init__(self, result: Transcript) -> None:
        self.result = result
        self.options: list[TranscribeOptions] = []

    def __call__(self, path: Path, options: TranscribeOptions, progress: ProgressHook) -> Transcript:
        self.options.append(options)
        return self.result


def submit(store: Store, path: Path, options: TranscribeOptions | None = None, courtroom: str = ROOM) -> int:
    [sub] = jobs.submit(store, [path], case_number=CASE, courtroom=courtroom, options=options, actor=TESTER)
    return sub.hearing_id


def test_the_job_uses_the_courtrooms_profile_and_the_roster(store: Store, tmp_path: Path) -> None:
    store.set_courtroom(ROOM, FOUR, actor=TESTER)
    case_id = store.case(CASE).id
    store.set_hotwords([Hotword("不当得利")], case_id=case_id, actor=TESTER)
    store.set_hotwords([Hotword("诉讼时效")], actor=TESTER)
    store.add_participant(case_id, "审判长", "张三", actor=TESTER)
    store.add_participant(case_id, "原告", "李四", "原告席", actor=TESTER)
    store.add_participant(case_id, "代理人", "李四", "原告席", actor=TESTER)  # one name, one hotword
    hid = submit(store, wav(tmp_path / "court.wav", 4), TranscribeOptions(hotwords=(Hotword("借条"),)))
    pipeline = Pipeline(channel_transcript())
    assert run_next(store, pipeline).state == jobs.JobState.DONE

    [used] = pipeline.options
    assert used.channels == tuple(FOUR_NORMAL)
    assert [h.term for h in used.hotwords] == ["借条", "不当得利", "张三", "李四", "诉讼时效"]
    assert [s.display() for s in store.speakers(hid)] == ["审判长张三", "原告李四", "被告", "S4"]
    warned = [r for r in store.audit_rows(hearing_id=hid) if r.action == audit.JOB_CHANGED and "warning" in r.detail]
    assert warned == []


def test_a_recording_with_other_channels_is_mixed_with_a_warning(store: Store, tmp_path: Path) -> None:
    store.set_courtroom(ROOM, FOUR, actor=TESTER)
    hid = submit(store, wav(tmp_path / "stereo.wav", 2))
    result = transcript()
    pipeline = Pipeline(result)
    assert run_next(store, pipeline).state == jobs.JobState.DONE
    assert pipeline.options[0].channels == ()  # processed as today
    expected = "声道配置有 4 个声道，录音有 2 个"
    assert any(expected in w and "processed as a mono mix" in w for w in result.warnings), result.warnings
    [row] = [r for r in store.audit_rows(hearing_id=hid) if r.action == audit.JOB_CHANGED and "warning" in r.detail]
    assert expected in row.detail["warning"] and row.account == "system"


def test_channels_given_win_and_no_profile_changes_nothing(store: Store, tmp_path: Path) -> None:
    store.set_courtroom(ROOM, FOUR, actor=TESTER)
    given = TranscribeOptions(channels=("审判长", "被告", "-", "mix"))
    submit(store, wav(tmp_path / "a.wav", 4), given)
    pipeline = Pipeline(channel_transcript())
    run_next(store, pipeline)
    assert pipeline.options[0].channels == ("审判席:审判长", "被告席:被告", "-", "mix")

    submit(store, wav(tmp_path / "b.wav", 4, seconds=0.6), courtroom="第九法庭")  # no profile there
    submit(store, wav(tmp_path / "c.wav", 4, seconds=0.7), courtroom="")
    run_next(store, pipeline)
    run_next(store, pipeline)
    assert [o.channels for o in pipeline.options[1:]] == [(), ()]


def test_requeue_after_a_profile_runs_the_hearing_again_by_channel(store: Store, tmp_path: Path) -> None:
    """The offer's re-run (the review page's case: the job is done, mixed): queued again with the same options; the
    worker then applies the profile. Not twice while a job of it is waiting."""
    from workbench.accounts import console_access
    from workbench.web.courtrooms import offer_needed, requeue

    hid = submit(store, wav(tmp_path / "court.wav", 4), TranscribeOptions(language="zh", hotwords=(Hotword("借条"),)))
    run_next(store, Pipeline(transcript()))
    assert offer_needed(store, hid) is not None
    store.set_courtroom(ROOM, FOUR, actor=TESTER)
    assert offer_needed(store, hid) is None
    admin = console_access(store)
    job_id = requeue(store, admin, hid)
    assert job_id is not None and requeue(store, admin, hid) is None
    queued = jobs.job(store, job_id)
    assert (queued.options.language, queued.options.hotwords, queued.options.channels) == ("zh", (Hotword("借条"),), ())
    pipeline = Pipeline(channel_transcript())
    run_next(store, pipeline)
    assert pipeline.options[0].channels == tuple(FOUR_NORMAL)


def test_requeue_while_the_job_runs_queues_another_after_it(store: Store, tmp_path: Path) -> None:
    """A job already running started without the profile: the offer's re-run is a new job after it, which meets the
    profile; the running one finishes as it began (mixed)."""
    from workbench.accounts import console_access
    from workbench.web.courtrooms import requeue

    hid = submit(store, wav(tmp_path / "court.wav", 4), TranscribeOptions(language="zh"))
    queued_meanwhile: list[int | None] = []

    class OfferWhileRunning(Pipeline):
        def __call__(self, path: Path, options: TranscribeOptions, progress: ProgressHook) -> Transcript:
            assert jobs.jobs(store, hearing_id=hid)[0].state == jobs.JobState.RUNNING
            store.set_courtroom(ROOM, FOUR, actor=TESTER)  # the admin saves the profile while the job runs
            queued_meanwhile.append(requeue(store, console_access(store), hid))
            return super().__call__(path, options, progress)

    first = OfferWhileRunning(transcript())
    running = run_next(store, first)
    assert running is not None and running.state == jobs.JobState.DONE
    [after] = queued_meanwhile
    assert after is not None and after != running.id
    second = Pipeline(channel_transcript())
    assert run_next(store, second).id == after
    assert (first.options[0].channels, second.options[0].channels) == ((), tuple(FOUR_NORMAL))
    assert speaker_seats(store, hid)["S1"] == (0, "审判席")


def test_the_offer_checks_everything_before_it_saves_the_profile(store: Store, tmp_path: Path) -> None:
    """A locked hearing (no courtroom on it) is not re-run: refused before the profile is written, so nothing is half
    done; saving the profile only is allowed and leaves the hearing as it is. A bad map or name saves nothing."""
    from workbench.accounts import Access, Accounts, Forbidden, console_access
    from workbench.store import Locked
    from workbench.web.courtrooms import save_offer

    admin = console_access(store)
    hid = submit(store, wav(tmp_path / "court.wav", 4), courtroom="")
    run_next(store, Pipeline(transcript()))
    with store.writing() as con:  # filed (the sign-off steps are tests/test_signoff.py's)
        con.execute("UPDATE hearings SET status = 'locked' WHERE id = ?", [hid])
    items = ["审判长", "原告", "被告", "-"]
    with pytest.raises(Locked, match="不能重新转写"):
        save_offer(store, admin, hid, ROOM, items, rerun=True)
    with pytest.raises(SeatsError):
        save_offer(store, admin, hid, ROOM, ["审判长", "原告", None, "-"], rerun=False)
    with pytest.raises(BadEntry, match="斜杠"):
        save_offer(store, admin, hid, "三/四", items, rerun=False)
    clerk = Access(store, Accounts(store).get("wang"))
    with pytest.raises(Forbidden):
        save_offer(store, clerk, hid, ROOM, items, rerun=False)
    assert store.courtrooms() == [] and len(jobs.jobs(store, hearing_id=hid)) == 1

    saved = save_offer(store, admin, hid, ROOM, items, rerun=False)
    assert (saved.profile.name, saved.job_id, list(saved.profile.channels)) == (ROOM, None, FOUR_NORMAL)
    assert store.hearing(hid).courtroom == "" and len(jobs.jobs(store, hearing_id=hid)) == 1


# --- the CLI -----------------------------------------------------------------------------------------


def cli(world: Court, *args: str, as_name: str) -> Any:
    return CliRunner().invoke(main, [*args, "--db", str(world.db), "--as", as_name])


def ok(world: Court, *args: str, as_name: str) -> str:
    out = cli(world, *args, as_name=as_name)
    assert out.exit_code == 0, out.output
    return str(out.output)


def refused(world: Court, *args: str, as_name: str) -> str:
    out = cli(world, *args, as_name=as_name)
    assert out.exit_code == 1, out.output
    return str(out.output)


def test_cli_courtrooms_set_list_show_delete_only_an_admin_changes(world: Court) -> None:
    assert "no courtroom profiles" in ok(world, "courtrooms", "list", as_name="qian")
    out = ok(world, "courtrooms", "set", ROOM, "--channels", FOUR, as_name="root")
    assert "4 channels" in out and "channel 1: 审判席:审判长" in out and "channel 4: -" in out
    assert f"{ROOM}  {','.join(FOUR_NORMAL)}" in ok(world, "courtrooms", "list", as_name="qian")
    assert "原告席:原告" in ok(world, "courtrooms", "show", ROOM, as_name="wang")
    assert '"channels"' in ok(world, "courtrooms", "show", ROOM, "--json", as_name="li")

    for who in ("wang", "zhao", "qian"):
        assert "只有管理员" in refused(world, "courtrooms", "set", ROOM, "--channels", "审判长", as_name=who)
        assert "只有管理员" in refused(world, "courtrooms", "delete", ROOM, as_name=who)
    assert "缺少席位" in refused(world, "courtrooms", "set", ROOM, "--channels", "审判长,:原告", as_name="root")
    assert "没有声道配置" in refused(world, "courtrooms", "show", "第九法庭", as_name="wang")
    assert f"deleted the profile of {ROOM}" in ok(world, "courtrooms", "delete", ROOM, as_name="root")
    with Store(world.db) as store:
        assert store.courtrooms() == []
        assert [r.account for r in rows_of(store, audit.COURTROOM_CHANGED)] == ["root", "root"]


def test_cli_roster_add_list_remove_as_the_right_and_the_wrong_person(world: Court) -> None:
    out = ok(world, "roster", "add", CASE, "--role", "原告", "--name", "李四", "--seat", "原告席", as_name="wang")
    pid = int(out.split()[0])
    ok(world, "roster", "add", CASE, "--role", "审判长", "--name", "张三", as_name="zhao")
    listed = ok(world, "roster", "list", CASE, as_name="qian")  # a viewer reads it
    assert "原告  李四  原告席" in listed and "审判长  张三  -" in listed

    assert "不能修改案件名单" in refused(world, "roster", "add", CASE, "--role", "证人", "--name", "孙七",
                                        as_name="qian")  # fmt: skip
    assert "不能修改案件名单" in refused(world, "roster", "remove", CASE, str(pid), as_name="qian")
    for verb in (("list", CASE), ("add", CASE, "--role", "证人", "--name", "孙七"), ("remove", CASE, str(pid))):
        assert "案件不存在或无权查看" in refused(world, "roster", *verb, as_name="li")  # another case's clerk
    other = ok(world, "roster", "add", OTHER_CASE, "--role", "被告", "--name", "赵六", as_name="li")
    assert "名单中没有" in refused(world, "roster", "remove", CASE, other.split()[0], as_name="wang")
    assert "已有原告李四" in refused(world, "roster", "add", CASE, "--role", "原告", "--name", "李四", "--seat",
                                     "原告席", as_name="wang")  # fmt: skip

    assert f"removed roster entry {pid}" in ok(world, "roster", "remove", CASE, str(pid), as_name="zhao")
    assert "李四" not in ok(world, "roster", "list", CASE, as_name="wang")
    assert '"name": "张三"' in ok(world, "roster", "list", CASE, "--json", as_name="wang")


# --- the pages (Streamlit's AppTest, real accounts and sessions, the worker off) ---------------------

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "workbench" / "web" / "app.py")
PAGE_PASSWORD = "a long enough test password 42"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A data folder for the app, with an admin, a clerk and a viewer of CASE and a clerk of OTHER_CASE, each signed
    in (AppTest cannot set cookies: the session's token goes where `session.signed_in()` looks without one)."""
    from workbench import settings
    from workbench.accounts import Accounts, Role, Sessions, console_access

    for name, value in (("data_dir", tmp_path), ("db", tmp_path / "wb.duckdb"), ("workers", "0"),
                        ("ingest_roots", str(tmp_path)), ("models_dir", tmp_path / "models")):  # fmt: skip
        monkeypatch.setenv(settings.REGISTRY[name].env, str(value))
    store = Store(tmp_path / "wb.duckdb")
    for number in (CASE, OTHER_CASE):
        store.ensure_case(number, actor=TESTER)
    accounts, sessions, by = Accounts(store), Sessions(store), console_access(store).actor
    tokens = {}
    for name, role in (("admin1", Role.ADMIN), ("clerk1", Role.CLERK), ("viewer1", Role.VIEWER),
                       ("clerk2", Role.CLERK)):  # fmt: skip
        account, _ = accounts.add(name, role, by=by, password=PAGE_PASSWORD, must_change=False)
        tokens[name] = sessions.start(account, "127.0.0.1")
    admin = console_access(store)
    for name in ("clerk1", "viewer1"):
        admin.grant(CASE, name)
    admin.grant(OTHER_CASE, "clerk2")
    yield store, tokens
    store.close()


def app(page: str, token: str, query: dict[str, str] | None = None, **state: Any) -> Any:
    from streamlit.testing.v1 import AppTest

    from workbench.web.session import SESSION_KEY

    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[SESSION_KEY] = token
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(str(ROOT / page))
    return fine(at.run())


def fine(at: Any) -> Any:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_system_page_sets_and_deletes_a_profile(site: Any) -> None:
    store, tokens = site
    at = app("pages/system.py", tokens["admin1"])
    at.text_input(key="profile_name").set_value(ROOM)
    at.text_input(key="profile_channels").set_value("审判长,:原告")
    at.button(key="FormSubmitter:courtroom_profile-保存 Save").click()
    at = fine(at.run())
    assert any("缺少席位" in e.value for e in at.error) and store.courtrooms() == []
    at.text_input(key="profile_channels").set_value(FOUR)
    at.button(key="FormSubmitter:courtroom_profile-保存 Save").click()
    at = fine(at.run())
    assert list(store.courtroom(ROOM).channels) == FOUR_NORMAL
    assert [r.account for r in rows_of(store, audit.COURTROOM_CHANGED)] == ["admin1"]
    at = app("pages/system.py", tokens["admin1"])
    [table] = [d for d in at.dataframe if "法庭" in d.value.columns]
    assert list(table.value["法庭"]) == [ROOM]
    at.selectbox(key="profile_delete").set_value(ROOM)
    at = fine(at.run())
    at.button(key="profile_delete_button").click()
    fine(at.run())
    assert store.courtrooms() == []


def test_the_upload_page_takes_the_roster_with_the_batch(site: Any, tmp_path: Path) -> None:
    store, tokens = site
    at = app("pages/upload.py", tokens["clerk1"])
    at.selectbox(key="case_choice").set_value(CASE)
    at.text_input(key="courtroom").set_value(ROOM)
    at.text_area(key="server_paths").set_value(str(wav(tmp_path / "court.wav", 4)))
    at.session_state["roster_0"] = {
        "edited_rows": {0: {"角色": "审判长", "姓名": "张三", "席位": "审判席"}},
        "added_rows": [{"角色": "原告", "姓名": "李四", "席位": "原告席"}],
        "deleted_rows": [],
    }
    at = fine(at.run())
    at.button(key="submit").click()
    at = fine(at.run())
    assert not at.error, [e.value for e in at.error]
    case_id = store.case(CASE).id
    assert [(p.role, p.name, p.seat) for p in store.participants(case_id)] == [("审判长", "张三", "审判席"),
                                                                              ("原告", "李四", "原告席")]  # fmt: skip
    [queued] = jobs.jobs(store)
    assert queued.state == jobs.JobState.QUEUED
    # a clerk is told to ask an admin: the file has 4 channels and 第三法庭 no profile
    assert any("请管理员为该法庭配置声道" in i.value for i in at.info) and not at.get("audio")


def test_the_upload_page_saves_the_roster_before_it_queues_a_new_cases_jobs(site: Any, tmp_path: Path) -> None:
    """The worker polls the queue by itself: the roster (and the hotwords) must be in the store before a job can be
    claimed. A new case is opened for them first, with the clerk as its member."""
    store, tokens = site
    at = app("pages/upload.py", tokens["clerk1"])
    at.text_input(key="case_number").set_value("（2024）京0105民初5678号")
    at.text_area(key="hotwords").set_value("不当得利")
    at.text_area(key="server_paths").set_value(str(wav(tmp_path / "court.wav", 4)))
    at.session_state["roster_0"] = {"edited_rows": {0: {"角色": "原告", "姓名": "李四", "席位": "原告席"}},
                                    "added_rows": [], "deleted_rows": []}  # fmt: skip
    at = fine(at.run())
    at.button(key="submit").click()
    at = fine(at.run())
    assert not at.error, [e.value for e in at.error]
    case = store.case("（2024）京0105民初5678号")
    assert [p.name for p in store.participants(case.id)] == ["李四"]
    assert [h.term for h in store.hotwords(case_id=case.id)] == ["不当得利"]
    [queued] = jobs.jobs(store)
    assert queued.case_number == case.number and queued.state == jobs.JobState.QUEUED
    rows = {r.action: r.id for r in store.audit_rows(case_id=case.id)}
    assert rows[audit.ROSTER_CHANGED] < rows[audit.UPLOADED], "the roster is saved before the job is queued"
    assert any("已加入处理队列" in s.value for s in at.success)


def test_the_upload_page_refuses_a_bad_roster_before_it_takes_anything(site: Any, tmp_path: Path) -> None:
    """A roster row the store would refuse (a control character) is refused with the other checks: no job, no half
    roster, the files still there to submit again."""
    store, tokens = site
    at = app("pages/upload.py", tokens["clerk1"])
    at.selectbox(key="case_choice").set_value(CASE)
    at.text_area(key="server_paths").set_value(str(wav(tmp_path / "court.wav", 4)))
    at.session_state["roster_0"] = {
        "edited_rows": {0: {"角色": "审判长", "姓名": "张三", "席位": "审判席"}},
        "added_rows": [{"角色": "原告", "姓名": "李\x07四", "席位": "原告席"}],
        "deleted_rows": [],
    }
    at = fine(at.run())
    at.button(key="submit").click()
    at = fine(at.run())
    assert any("名单第 2 行" in e.value and "控制字符" in e.value for e in at.error), [e.value for e in at.error]
    assert jobs.jobs(store) == [] and store.participants(store.case(CASE).id) == []
    assert at.session_state["upload_round"] == 0  # the same picker: nothing was taken


def test_the_profile_offer_an_admin_hears_each_channel_and_saves(site: Any, tmp_path: Path) -> None:
    store, tokens = site
    [sub] = jobs.submit(store, [wav(tmp_path / "court.wav", 4, seconds=12)], case_number=CASE, courtroom=ROOM,
                        actor=TESTER)  # fmt: skip
    at = app("pages/upload.py", tokens["clerk1"], my_jobs=[sub.job_id])  # a member, not an admin: ask one
    assert any("请管理员为该法庭配置声道" in i.value for i in at.info) and not at.get("audio")
    at = app("pages/upload.py", tokens["clerk2"], my_jobs=[sub.job_id])  # another case's clerk: nothing at all
    assert not any("配置声道" in i.value for i in at.info) and not at.get("audio")

    at = app("pages/upload.py", tokens["admin1"], my_jobs=[sub.job_id])
    assert len(at.get("audio")) == 4, "each channel's sample"
    for c, item in enumerate(["审判长", "原告", "被告", "-"]):
        at.selectbox(key=f"offer_channel_{sub.hearing_id}_{c}").set_value(item)
    at.button(key=f"FormSubmitter:profile_offer_{sub.hearing_id}-保存配置并重新转写 Save and re-run").click()
    at = fine(at.run())
    assert list(store.courtroom(ROOM).channels) == FOUR_NORMAL
    assert any("已保存法庭" in s.value for s in at.success)
    played = store.audit_rows(hearing_id=sub.hearing_id, action=audit.AUDIO_PLAYED)
    assert [r.account for r in played] == ["admin1"] and played[0].detail["profile_offer"]
    pipeline = Pipeline(channel_transcript())  # the job still queued meets the profile when it runs
    run_next(store, pipeline)
    assert pipeline.options[0].channels == tuple(FOUR_NORMAL)
    at = app("pages/upload.py", tokens["admin1"], my_jobs=[sub.job_id])
    assert not at.get("audio"), "a courtroom with a profile is offered nothing"


RERUN = "保存配置并重新转写 Save and re-run"
PROFILE_ONLY = "只保存配置 Save profile only"


def offer_expander(at: Any) -> Any:
    [found] = [e for e in at.expander if "为法庭配置声道" in e.label]
    return found


def pick_channels(at: Any, hearing_id: int, items: tuple[str, ...] = ("审判长", "原告", "被告", "-")) -> None:
    for c, item in enumerate(items):
        at.selectbox(key=f"offer_channel_{hearing_id}_{c}").set_value(item)


def test_the_offer_on_an_edited_hearing_asks_before_it_replaces_the_text(site: Any, tmp_path: Path) -> None:
    """The review page folds the offer (it is on every visit of the hearing); a hearing with edits is re-run only
    once the admin confirms that its text and edits are replaced. The upload page opens it for the batch just sent."""
    store, tokens = site
    [sub] = jobs.submit(store, [wav(tmp_path / "court.wav", 4, seconds=12)], case_number=CASE, courtroom=ROOM,
                        actor=TESTER)  # fmt: skip
    hid = sub.hearing_id
    run_next(store, Pipeline(transcript()))
    store.set_speaker(hid, "S1", role="审判长", name="张三", actor=TESTER)  # the clerk's work: in review now

    at = app("pages/review.py", tokens["admin1"], query={"hearing": str(hid)})
    assert offer_expander(at).proto.expanded is False
    assert any("重新转写将替换现有文本" in w.value for w in at.warning)
    pick_channels(at, hid)
    at.button(key=f"FormSubmitter:profile_offer_{hid}-{RERUN}").click()
    at = fine(at.run())
    assert any("请先勾选确认" in e.value for e in at.error)
    assert store.courtrooms() == [] and len(jobs.jobs(store, hearing_id=hid)) == 1  # nothing saved, nothing queued

    at.checkbox(key=f"offer_confirm_{hid}").check()
    at.button(key=f"FormSubmitter:profile_offer_{hid}-{RERUN}").click()
    at = fine(at.run())
    assert list(store.courtroom(ROOM).channels) == FOUR_NORMAL
    latest = jobs.jobs(store, hearing_id=hid)[0]
    assert latest.id != sub.job_id and latest.state == jobs.JobState.QUEUED
    assert any(f"任务 {latest.id}" in s.value for s in at.success)

    store.delete_courtroom(ROOM, actor=TESTER)
    at = app("pages/upload.py", tokens["admin1"], my_jobs=[sub.job_id])
    assert offer_expander(at).proto.expanded is True


def test_the_offer_survives_a_recording_it_cannot_decode(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The samples cannot be read (a damaged file): the page says so instead of failing, and the profile can still
    be saved (here: the profile only, which leaves the hearing and its job as they are)."""
    from workbench.speech import audio

    store, tokens = site
    [sub] = jobs.submit(store, [wav(tmp_path / "court.wav", 4, seconds=1.3)], case_number=CASE, courtroom=ROOM,
                        actor=TESTER)  # fmt: skip

    def damaged(*args: Any, **kwargs: Any) -> Any:
        raise audio.AudioError(args[0], "invalid data found when processing input")

    monkeypatch.setattr(audio, "channel_blocks", damaged)
    at = app("pages/upload.py", tokens["admin1"], my_jobs=[sub.job_id])
    assert any("无法读取各声道样本" in w.value and "invalid data" in w.value for w in at.warning)
    assert not at.get("audio") and not store.audit_rows(hearing_id=sub.hearing_id, action=audit.AUDIO_PLAYED)
    pick_channels(at, sub.hearing_id)
    at.button(key=f"FormSubmitter:profile_offer_{sub.hearing_id}-{PROFILE_ONLY}").click()
    at = fine(at.run())
    assert list(store.courtroom(ROOM).channels) == FOUR_NORMAL
    assert [j.id for j in jobs.jobs(store, hearing_id=sub.hearing_id)] == [sub.job_id]


# --- the whole way: a real recording, the real pipeline, the worker -------------------------------------


def test_a_profile_and_a_roster_name_the_speakers_of_a_real_recording(
    store: Store, world: Court, tmp_path: Path, models_dir: Path
) -> None:
    """The acceptance path with no stand-in: two Mandarin speakers (AISHELL clips) on their own microphones of a
    4-channel recording, each bleeding into the other's 20 dB down; the courtroom's profile and the case's roster;
    the job through the worker and the real pipeline (Whisper, the channel engine, CAM++). The speakers come out
    role-labelled and named: 审判长张三 and 原告李四, without a click."""
    from conftest import TESTDATA

    from workbench.speech import audio

    judge = audio.load(TESTDATA / "asr" / "zh_aishell1_BAC009S0724W0121.wav")
    plaintiff = audio.load(TESTDATA / "asr" / "zh_aishell1_BAC009S0764W0121.wav")
    gap = np.zeros(16000, np.float32)
    n = len(judge) + len(plaintiff) + 3 * len(gap)
    channels = np.zeros((4, n), np.float32)
    channels[0, len(gap) : len(gap) + len(judge)] = judge
    start = 2 * len(gap) + len(judge)
    channels[1, start : start + len(plaintiff)] = plaintiff
    bleed = 10 ** (-20 / 20)
    channels[1] += bleed * channels[0]
    channels[0, start : start + len(plaintiff)] += bleed * plaintiff
    path = tmp_path / "court.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(4)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(channels.T, -1, 1) * 32767).astype("<i2").tobytes())

    store.set_courtroom(ROOM, FOUR, actor=TESTER)
    case_id = store.case(CASE).id
    store.add_participant(case_id, "审判长", "张三", "审判席", actor=TESTER)
    store.add_participant(case_id, "原告", "李四", "原告席", actor=TESTER)
    [sub] = jobs.submit(store, [path], case_number=CASE, courtroom=ROOM, actor=TESTER,
                        options=TranscribeOptions(engine="whisper", language="zh"))  # fmt: skip
    done = run_next(store)
    assert done is not None and done.state == jobs.JobState.DONE, done and done.error
    speakers = {s.label: s for s in store.speakers(sub.hearing_id)}
    seats = speaker_seats(store, sub.hearing_id)
    by_channel = {seats[label][0]: s.display() for label, s in speakers.items()}
    assert by_channel.get(0) == "审判长张三" and by_channel.get(1) == "原告李四", (by_channel, seats)
    said = {s.speaker for s in store.segments(sub.hearing_id)}
    assert {speakers[label].display() for label in said} >= {"审判长张三", "原告李四"}
    engine = store.transcript(sub.hearing_id).engine
    assert list(engine.channels) == FOUR_NORMAL
