"""The review desk's API (real DuckDB, real accounts): the desk view, batched edits, split, merge, find and
replace, the checked mark; each as the right person and as the wrong one (a viewer writing: 403; a clerk of
another case: 404 with the words of a missing hearing), bad bodies (422), and through real HTTP once.

Through `core.dispatch` (the CLI's in-process door), answers checked against each endpoint's own schema.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from api_calls import api, refused
from servers import free_port, make_session, make_token, start_server, stop_server
from store_samples import CASE, CONSOLE, court, court_copy
from store_samples import Court as World

from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript, Word
from workbench.store import Store, audit, search

MISSING = "庭审不存在或无权查看 (not found or not yours)"
# (speaker, text, the words' probabilities are low where the character is in LOW)
LINES = [
    ("S2", "现在开庭，请原告陈述诉讼请求。"),
    ("S1", "原告请求判令被告张某某支付货款。"),
    ("S3", "被告张某某对证据三有异议。"),
    ("S1", "The contract was signed in Shanghai."),
]
LOW = "某"


def transcript(lines: list[tuple[str, str]]) -> Transcript:
    segments = []
    for i, (spk, text) in enumerate(lines):
        start = i * 5.0
        if text.isascii():  # Whisper-like: words with their leading space
            pieces = [(" " if k else "") + w for k, w in enumerate(text.split(" "))]
        else:  # FunASR-like: one character each, punctuation not among them
            pieces = [c for c in text if c not in "，。"]
        step = 4.0 / len(pieces)
        words = [Word(start + k * step, start + (k + 1) * step, p, 0.2 if LOW in p else 0.9) for k, p in
                 enumerate(pieces)]  # fmt: skip
        segments.append(Segment(start, start + 4.5, text, spk, words))
    labels = sorted({s for s, _ in lines})
    return Transcript(
        file="h.wav", sha256="0" * 64, duration=len(lines) * 5.0, language="zh", engine=EngineInfo("whisper", "m"),
        segments=segments, speakers=[SpeakerSummary(s, 1.0, float(i), None) for i, s in enumerate(labels)],
    )  # fmt: skip


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    other = [("S1", "秘密证人赵飞燕出庭作证。"), ("S1", "下一段。")]
    return court(tmp_path_factory.mktemp("desk"), LINES, other, make=transcript)  # words a character each


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def seg_ids(store: Store, hid: int) -> list[int]:
    return [s.id for s in store.segments(hid)]


def found(store: Store, query: str, hid: int) -> list[int]:
    return [h.segment_id for h in search.search(store, query, hearing_id=hid, include_sealed=True)]


# --- the desk view -------------------------------------------------------------------------------------


def test_the_desk_has_every_segment_with_words_on_the_text_speakers_in_order_and_the_count(
    store: Store, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_speaker(world.own, "S1", role="原告", name="王五", actor=CONSOLE)  # a correction: in review
    desk = api(store, "wang", "GET", f"/hearings/{world.own}/desk")
    h = desk["hearing"]
    assert (h["id"], h["case_number"], h["may_edit"], h["status"], h["recording_id"]) == (
        world.own, CASE, True, "in review", None,
    )  # fmt: skip
    assert desk["threshold"] == 0.5 and desk["checked"] is None
    assert [s["text"] for s in desk["segments"]] == [t for _, t in LINES]
    # speakers in order of first appearance (S2 speaks first), number keys pick them in that order
    assert [(s["label"], s["display"]) for s in desk["speakers"]] == [("S2", "S2"), ("S1", "原告王五"), ("S3", "S3")]
    assert desk["speakers"][1]["version"] > 0
    first = desk["segments"][0]
    assert [first["text"][a:b] for _, _, a, b, _ in first["words"]] == list("现在开庭请原告陈述诉讼请求")
    english = desk["segments"][3]
    assert [english["text"][a:b] for _, _, a, b, _ in english["words"]] == english["text"].split(" ")
    assert desk["low_confidence"] == 4  # 某 twice in each of two segments
    # the threshold is the setting
    monkeypatch.setenv("WORKBENCH_LOW_CONFIDENCE", "0.95")
    assert api(store, "wang", "GET", f"/hearings/{world.own}/desk")["low_confidence"] == sum(
        len(s["words"]) for s in desk["segments"]
    )
    opened = store.audit_rows(action=audit.HEARING_OPENED)
    assert [(r.account, r.detail["read"]) for r in opened] == [("wang", "desk")]  # one opening, not one per read


def test_a_viewer_reads_the_desk_but_may_not_edit_and_another_cases_clerk_gets_404(store: Store, world: World) -> None:
    assert api(store, "qian", "GET", f"/hearings/{world.own}/desk")["hearing"]["may_edit"] is False
    for path in (f"/hearings/{world.other}/desk", "/hearings/987654/desk", "/hearings/0/desk"):
        e = refused(store, "wang", "GET", path)
        assert (e.status, e.detail) == (404, MISSING), path
    assert api(store, "li", "GET", f"/hearings/{world.other}/desk")["segments"][0]["text"] == "秘密证人赵飞燕出庭作证。"


# --- batched edits -------------------------------------------------------------------------------------


def test_a_batch_saves_each_item_against_its_version_and_goes_on_past_stale_and_foreign(
    store: Store, world: World
) -> None:
    ids = seg_ids(store, world.own)
    theirs = seg_ids(store, world.other)[0]
    api(store, "zhou", "POST", f"/hearings/{world.own}/edits",
        {"edits": [{"segment_id": ids[1], "text": "周改的。", "version": 0}]})  # fmt: skip
    t0 = time.perf_counter()
    out = api(store, "wang", "POST", f"/hearings/{world.own}/edits", {"edits": [
        {"segment_id": ids[0], "text": "现在开庭，请原告代理人陈述。", "version": 0},
        {"segment_id": ids[1], "text": "王改的。", "version": 0},
        {"segment_id": theirs, "text": "改别人的。", "version": 0},
        {"segment_id": ids[2], "speaker": " S1 ", "version": 0},
        {"segment_id": 987654, "text": "x", "version": 0},
    ]})["results"]  # fmt: skip
    elapsed = time.perf_counter() - t0
    assert [(r["segment_id"], r["ok"], r.get("error")) for r in out] == [
        (ids[0], True, None), (ids[1], False, "stale"), (theirs, False, "not_found"), (ids[2], True, None),
        (987654, False, "not_found"),
    ]  # fmt: skip
    ok = out[0]
    assert ok["text"] == "现在开庭，请原告代理人陈述。" and ok["version"] == store.segment_version(ids[0])
    assert [ok["text"][a:b] for _, _, a, b, _ in ok["words"]][:4] == ["现", "在", "开", "庭"]  # placed on the new text
    assert "changed by zhou" in out[1]["detail"]
    # what is there now, with its words (none of the recognised ones survive zhou's text); not reshaped
    current = {"text": "周改的。", "speaker": "S1", "version": store.segment_version(ids[1]), "reshaped": False,
               "words": []}  # fmt: skip
    assert out[1]["current"] == current
    assert out[3]["speaker"] == "S1" and store.segment(ids[2]).speaker == "S1"
    assert store.segment(theirs).text == "秘密证人赵飞燕出庭作证。" and store.segment(ids[1]).text == "周改的。"
    assert [(e.user, e.field) for e in store.edits(segment_id=ids[0])] == [("wang", "text")]
    assert found(store, "代理人", world.own) == [ids[0]]  # searchable at once
    assert store.hearing(world.own).status == "in review"
    assert elapsed < 2.0  # the desk saves as typing pauses (the measured figure is far lower; this catches a hang)


def test_a_stale_answer_says_when_another_clerk_split_or_merged_the_segment_and_gives_its_words(
    store: Store, world: World
) -> None:
    ids = seg_ids(store, world.own)
    # zhou splits segment 1 and merges 2 into 3 while wang types in them against version 0
    first, second = api(store, "zhou", "POST", f"/segments/{ids[1]}/split", {"at": 8, "version": 0})["segments"]
    merged = api(store, "zhou", "POST", f"/segments/{ids[2]}/merge", {"version": 0, "next_version": 0})["segment"]
    api(store, "zhou", "POST", f"/hearings/{world.own}/edits",
        {"edits": [{"segment_id": ids[0], "text": "现在开庭，请原告陈述。", "version": 0}]})  # fmt: skip
    out = api(store, "wang", "POST", f"/hearings/{world.own}/edits", {"edits": [
        {"segment_id": ids[1], "text": "原告请求判令被告张某某支付全部货款。", "version": 0},
        {"segment_id": ids[2], "text": "被告张某某对证据三有异议！", "version": 0},
        {"segment_id": ids[0], "text": "现在开庭。", "version": 0},
    ]})["results"]  # fmt: skip
    assert [(r["ok"], r["error"]) for r in out] == [(False, "stale")] * 3
    split, joined, typed = (r["current"] for r in out)
    assert (split["text"], split["version"], split["reshaped"]) == (first["text"], first["version"], True)
    assert split["words"] == first["words"] and [split["text"][a:b] for _, _, a, b, _ in split["words"]] == list(
        "原告请求判令被告"
    )  # placed on the text as it is now, not the one wang had
    assert (joined["text"], joined["reshaped"], joined["words"]) == (merged["text"], True, merged["words"])
    assert joined["text"] == LINES[2][1] + LINES[3][1]
    assert typed["reshaped"] is False and typed["text"] == "现在开庭，请原告陈述。"
    assert [typed["text"][a:b] for _, _, a, b, _ in typed["words"]][:4] == list("现在开庭")
    assert store.segment(ids[1]).text == first["text"] and store.segment(second["id"]).text == second["text"]
    # once typed in after the split, it is an ordinary edit again: keeping mine is safe
    api(store, "zhou", "POST", f"/hearings/{world.own}/edits",
        {"edits": [{"segment_id": ids[1], "text": "原告请求判令被告：", "version": first["version"]}]})  # fmt: skip
    [r] = api(store, "wang", "POST", f"/hearings/{world.own}/edits",
              {"edits": [{"segment_id": ids[1], "text": "x", "version": first["version"]}]})["results"]  # fmt: skip
    assert r["error"] == "stale" and r["current"]["reshaped"] is False


def test_a_merge_whose_text_would_pass_the_cap_is_422_and_changes_nothing(store: Store, world: World) -> None:
    ids = seg_ids(store, world.own)
    store.edit_segment(ids[0], text="长" * 1500, actor=CONSOLE)
    store.edit_segment(ids[1], text="短" * 600, actor=CONSOLE)
    versions = [store.segment_version(i) for i in ids[:2]]
    path = f"/segments/{ids[0]}/merge"
    e = refused(store, "wang", "POST", path, {"version": versions[0], "next_version": versions[1]})
    assert e.status == 422 and "2100 characters, over the cap of 2000" in e.detail, e.detail
    assert [s.id for s in store.segments(world.own)] == ids and store.segment(ids[1]).text == "短" * 600
    assert store.audit_rows(action=audit.SEGMENTS_MERGED) == []
    # a stored text already longer than the cap may take no more: 2500 + 1 is refused too
    store.edit_segment(ids[0], text="长" * 2500, actor=CONSOLE)
    store.edit_segment(ids[1], text="短", actor=CONSOLE)
    versions = [store.segment_version(i) for i in ids[:2]]
    e = refused(store, "wang", "POST", path, {"version": versions[0], "next_version": versions[1]})
    assert e.status == 422 and "over the cap of 2500" in e.detail
    store.edit_segment(ids[1], text="短" * 500, actor=CONSOLE)
    store.edit_segment(ids[0], text="长" * 1500, actor=CONSOLE)
    versions = [store.segment_version(i) for i in ids[:2]]
    done = api(store, "wang", "POST", path, {"version": versions[0], "next_version": versions[1]})
    assert done["segment"]["text"] == "长" * 1500 + "短" * 500  # exactly the cap: fits


def test_a_stored_text_over_the_cap_stays_editable_but_may_not_grow(store: Store, world: World) -> None:
    seg = seg_ids(store, world.own)[0]
    store.edit_segment(seg, text="长" * 2500, actor=CONSOLE)  # a long recognition, or merges
    version = store.segment_version(seg)
    path = f"/hearings/{world.own}/edits"
    e = refused(store, "wang", "POST", path, {"edits": [{"segment_id": seg, "text": "长" * 2501, "version": version}]})
    assert e.status == 422 and "edits[0].text: 最多 2500 个字符" in e.detail
    [r] = api(store, "wang", "POST", path, {"edits": [{"segment_id": seg, "text": "短" * 2400, "version": version}]})[
        "results"
    ]
    assert r["ok"] and store.segment(seg).text == "短" * 2400


def test_edits_in_a_row_each_against_the_last_version_lose_none(store: Store, world: World) -> None:
    """As the desk saves while a clerk types: one batch per pause, each against the version the last one gave
    (the browser bench makes 200 of them; 60 here keep the suite short and show the same)."""
    seg = seg_ids(store, world.own)[0]
    version = 0
    for n in range(60):
        body = {"edits": [{"segment_id": seg, "text": f"第{n}次修改。", "version": version}]}
        [r] = api(store, "wang", "POST", f"/hearings/{world.own}/edits", body)["results"]
        assert r["ok"], r
        version = r["version"]
    edits = store.edits(segment_id=seg)
    assert [e.after for e in edits] == [f"第{n}次修改。" for n in range(60)]
    assert store.derived_text(seg) == "第59次修改。" == store.segment(seg).text
    assert len(store.audit_rows(action=audit.EDITED, limit=1000)) == 60 and store.verify_audit().ok


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "edits: 必填"),
        ([], "body must be a JSON object"),
        ({}, "edits: 必填"),
        ({"edits": {}}, "edits: 类型不对"),
        ({"edits": []}, "edits: 应为非空列表"),
        ({"edits": [{"segment_id": 1, "text": "x", "version": 0}] * 201}, "at most 200 items"),
        ({"edits": [{"segment_id": 1, "text": "x", "version": 0}], "more": 1}, "more: 不认识的字段"),
        ({"edits": ["x"]}, "edits[0]: 应为对象"),
        ({"edits": [{"segment_id": 1, "text": "x", "version": 0, "start": 1}]}, "edits[0].start: 不认识的字段"),
        ({"edits": [{"text": "x", "version": 0}]}, "edits[0].segment_id: 必填"),
        ({"edits": [{"segment_id": 1, "text": "x"}]}, "edits[0].version: 必填"),
        ({"edits": [{"segment_id": 1, "text": "x", "version": -1}]}, "edits[0].version: 不能为负"),
        ({"edits": [{"segment_id": 1, "text": "x", "version": True}]}, "edits[0].version: 类型不对"),
        ({"edits": [{"segment_id": 0, "text": "x", "version": 0}]}, "edits[0].segment_id: 应不小于 1"),
        ({"edits": [{"segment_id": 2**63, "text": "x", "version": 0}]}, "edits[0].segment_id: 太大"),
        ({"edits": [{"segment_id": 1, "version": 0}]}, "edits[0]: text, speaker 至少给出一个"),
        ({"edits": [{"segment_id": 1, "text": 5, "version": 0}]}, "edits[0].text: 类型不对"),
        ({"edits": [{"segment_id": 1, "text": "a\x00", "version": 0}]}, "edits[0].text: 不能含空字符"),
        ({"edits": [{"segment_id": 1, "speaker": " ", "version": 0}]}, "edits[0].speaker: 不能为空"),
        ({"edits": [{"segment_id": 1, "speaker": "S" * 65, "version": 0}]}, "edits[0].speaker: 最多 64 个字符"),
        ({"edits": [{"segment_id": 1, "text": "长" * 2001, "version": 0}]}, "edits[0].text: 最多 2000 个字符"),
    ],
)
def test_a_malformed_batch_is_422_naming_what_and_nothing_is_saved(
    store: Store, world: World, body: Any, says: str
) -> None:
    e = refused(store, "wang", "POST", f"/hearings/{world.own}/edits", body)
    assert e.status == 422 and says in e.detail, e.detail
    assert store.edits(hearing_id=world.own) == []


# --- split and merge -----------------------------------------------------------------------------------


def test_split_and_merge_through_the_api_and_undo_of_each(store: Store, world: World) -> None:
    ids = seg_ids(store, world.own)
    two = api(store, "wang", "POST", f"/segments/{ids[1]}/split", {"at": 8, "version": 0})["segments"]
    assert [s["text"] for s in two] == ["原告请求判令被告", "张某某支付货款。"]
    assert two[0]["id"] == ids[1] and two[1]["start"] == two[0]["end"] > store.segment(ids[0]).end
    assert [two[1]["text"][a:b] for _, _, a, b, _ in two[1]["words"]] == list("张某某支付货款")
    assert [s["id"] for s in api(store, "wang", "GET", f"/hearings/{world.own}/desk")["segments"]] == [
        ids[0], ids[1], two[1]["id"], *ids[2:],
    ]  # fmt: skip
    # a split at the edge, a stale one, on the last segment: refused, nothing changes
    for body in ({"at": 0, "version": two[0]["version"]}, {"at": 8, "version": two[0]["version"]}):
        e = refused(store, "wang", "POST", f"/segments/{ids[1]}/split", body)
        assert e.status == 422, e.detail
    e = refused(store, "wang", "POST", f"/segments/{ids[1]}/split", {"at": 2, "version": 0})
    assert (e.status, e.error) == (409, "stale")
    e = refused(store, "wang", "POST", f"/segments/{ids[-1]}/merge", {"version": 0, "next_version": 0})
    assert e.status == 422 and "last" in e.detail
    e = refused(store, "wang", "POST", f"/segments/{ids[1]}/merge", {"version": two[0]["version"], "next_version": 0})
    assert (e.status, e.error) == (409, "stale")
    # undo of the split is a merge; undo of that merge a split at joined_at
    merged = api(store, "wang", "POST", f"/segments/{ids[1]}/merge",
                 {"version": two[0]["version"], "next_version": two[1]["version"]})  # fmt: skip
    assert merged["segment"]["text"] == LINES[1][1] and merged["removed"] == two[1]["id"] and merged["joined_at"] == 8
    again = api(store, "wang", "POST", f"/segments/{ids[1]}/split",
                {"at": merged["joined_at"], "version": merged["segment"]["version"]})["segments"]  # fmt: skip
    assert [s["text"] for s in again] == [s["text"] for s in two]
    assert store.derived_text(ids[1]) == again[0]["text"]
    assert len(store.audit_rows(action=audit.SEGMENT_SPLIT)) == 2
    assert [r.detail["removed"] for r in store.audit_rows(action=audit.SEGMENTS_MERGED)] == [two[1]["id"]]
    assert found(store, "支付货款", world.own) == [again[1]["id"]]


@pytest.mark.parametrize(
    ("route", "body", "says"),
    [
        ("split", {"version": 0}, "at: 必填"),
        ("split", {"at": "3", "version": 0}, "at: 类型不对"),
        ("split", {"at": 0, "version": 0}, "at: 应不小于 1"),
        ("split", {"at": 3}, "version: 必填"),
        ("split", {"at": 3, "version": 0, "x": 1}, "x: 不认识的字段"),
        ("split", [3], "body must be a JSON object"),
        ("merge", {"version": 0}, "next_version: 必填"),
        ("merge", {"version": -1, "next_version": 0}, "version: 不能为负"),
        ("merge", {"version": 0, "next_version": 0, "at": 1}, "at: 不认识的字段"),
    ],
)
def test_bad_split_and_merge_bodies_are_422(store: Store, world: World, route: str, body: Any, says: str) -> None:
    e = refused(store, "wang", "POST", f"/segments/{seg_ids(store, world.own)[0]}/{route}", body)
    assert e.status == 422 and says in e.detail, e.detail


# --- find and replace ----------------------------------------------------------------------------------


def test_replace_previews_applies_as_edits_and_is_undone_with_the_befores(store: Store, world: World) -> None:
    ids = seg_ids(store, world.own)
    path = f"/hearings/{world.own}/replace"
    preview = api(store, "wang", "POST", path, {"find": "张某某", "replace": "张某"})
    assert preview["total"] == 2
    assert [(m["segment_id"], m["count"], m["after"]) for m in preview["matches"]] == [
        (ids[1], 1, "原告请求判令被告张某支付货款。"), (ids[2], 1, "被告张某对证据三有异议。"),
    ]  # fmt: skip
    assert store.edits(hearing_id=world.own) == []  # a preview changes nothing
    assert api(store, "wang", "POST", path, {"find": "SHANGHAI", "replace": "上海"})["total"] == 0
    assert api(store, "wang", "POST", path, {"find": "SHANGHAI", "replace": "上海", "match_case": False})["total"] == 1
    # someone edits one of them after the preview: that one is stale, the other is replaced
    api(store, "zhou", "POST", f"/hearings/{world.own}/edits",
        {"edits": [{"segment_id": ids[2], "text": "被告张某某对证据三有异议！", "version": 0}]})  # fmt: skip
    chosen = [{"segment_id": m["segment_id"], "version": m["version"]} for m in preview["matches"]]
    out = api(store, "wang", "POST", path, {"find": "张某某", "replace": "张某", "apply": True, "segments": chosen})
    results = out["results"]
    assert [(r["segment_id"], r["ok"]) for r in results] == [(ids[1], True), (ids[2], False)]
    assert results[0]["before"] == LINES[1][1] and results[0]["text"] == "原告请求判令被告张某支付货款。"
    assert results[1]["error"] == "stale" and store.segment(ids[2]).text == "被告张某某对证据三有异议！"
    assert [(e.user, e.field) for e in store.edits(segment_id=ids[1])] == [("wang", "text")]
    # the undo: the befores posted as edits against the new versions
    undo = api(store, "wang", "POST", f"/hearings/{world.own}/edits", {"edits": [
        {"segment_id": r["segment_id"], "text": r["before"], "version": r["version"]} for r in results if r["ok"]
    ]})["results"]  # fmt: skip
    assert undo[0]["ok"] and store.segment(ids[1]).text == LINES[1][1]
    # apply without a list: every match at its current version
    out = api(store, "wang", "POST", path, {"find": "张某某", "replace": "张某", "apply": True})
    assert [r["ok"] for r in out["results"]] == [True, True] and out["more"] == 0
    assert found(store, "张某某", world.own) == []


def test_replace_lists_and_applies_at_most_the_limit_and_says_how_many_more(
    store: Store, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.api import desk as desk_api

    monkeypatch.setattr(desk_api, "REPLACE_LISTED_MAX", 2)  # as 1,000 would, with 4 segments
    ids = seg_ids(store, world.own)
    path = f"/hearings/{world.own}/replace"
    preview = api(store, "wang", "POST", path, {"find": "。", "replace": "！"})
    assert [m["segment_id"] for m in preview["matches"]] == ids[:2] and preview["more"] == 1  # 3 segments match
    assert preview["total"] == 3
    out = api(store, "wang", "POST", path, {"find": "。", "replace": "！", "apply": True})
    assert [r["segment_id"] for r in out["results"]] == ids[:2] and out["more"] == 1
    assert store.segment(ids[2]).text == LINES[2][1]  # past the limit: not changed, and said so
    again = api(store, "wang", "POST", path, {"find": "。", "replace": "！", "apply": True})
    assert [r["segment_id"] for r in again["results"]] == [ids[2]] and again["more"] == 0
    e = refused(store, "wang", "POST", path, {"find": "。", "replace": "！", "apply": True, "segments": [
        {"segment_id": i, "version": 0} for i in ids[:3]]})  # fmt: skip
    assert e.status == 422 and "segments: 最多 2 项" in e.detail


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"replace": "x"}, "find: 必填"),
        ({"find": "a\x00", "replace": "x"}, "find: 不能含空字符"),
        ({"find": "", "replace": "x"}, "find: 不能为空"),
        ({"find": "x"}, "replace: 必填"),
        ({"find": "x" * 201, "replace": "x"}, "find: 最多 200 个字符"),
        ({"find": "x", "replace": "y", "apply": "yes"}, "apply: 类型不对"),
        ({"find": "x", "replace": "y", "segments": [{"segment_id": 1}]}, "segments[0].version: 必填"),
        ({"find": "x", "replace": "y", "regex": True}, "regex: 不认识的字段"),
    ],
)
def test_bad_replace_bodies_are_422(store: Store, world: World, body: Any, says: str) -> None:
    e = refused(store, "wang", "POST", f"/hearings/{world.own}/replace", body)
    assert e.status == 422 and says in e.detail, e.detail


# --- checked up to here --------------------------------------------------------------------------------


def test_the_checked_mark_is_set_shown_on_the_desk_and_cleared(store: Store, world: World) -> None:
    ids = seg_ids(store, world.own)
    path = f"/hearings/{world.own}/checked"
    mark = api(store, "wang", "PUT", path, {"segment_id": ids[2]})
    assert (mark["segment_id"], mark["t"], mark["by"]) == (ids[2], store.segment(ids[2]).end, "wang")
    assert api(store, "qian", "GET", f"/hearings/{world.own}/desk")["checked"] == mark  # everyone sees it
    opened = len(store.audit_rows(action=audit.HEARING_OPENED))
    assert api(store, "zhou", "GET", path) == mark == api(store, "qian", "GET", path)  # alone, for the CLI
    assert len(store.audit_rows(action=audit.HEARING_OPENED)) == opened  # no text read: not an opening
    e = refused(store, "li", "GET", path)  # another case's clerk: as if there were no such hearing
    assert (e.status, e.detail) == (404, MISSING)
    assert refused(store, "wang", "GET", "/hearings/987654/checked").status == 404
    e = refused(store, "wang", "PUT", path, {"segment_id": seg_ids(store, world.other)[0]})
    assert e.status == 404  # not a segment of this hearing
    for body, says in (
        ({}, "segment_id: 必填"),
        ({"segment_id": "3"}, "segment_id: 类型不对"),
        (None, "segment_id: 必填"),
        ([1], "body must be a JSON object"),
    ):
        e = refused(store, "wang", "PUT", path, body)
        assert e.status == 422 and says in e.detail
    assert api(store, "zhao", "PUT", path, {"segment_id": None}) is None
    assert api(store, "wang", "GET", f"/hearings/{world.own}/desk")["checked"] is None
    rows = store.audit_rows(action=audit.REVIEW_MARKED)
    assert [(r.account, r.detail["segment_id"]) for r in reversed(rows)] == [("wang", ids[2]), ("zhao", None)]


# --- the wrong person ----------------------------------------------------------------------------------


def writes(store: Store, hid: int) -> list[tuple[str, str, Any]]:
    ids = seg_ids(store, hid)
    return [
        ("POST", f"/hearings/{hid}/edits", {"edits": [{"segment_id": ids[0], "text": "改掉。", "version": 0}]}),
        ("POST", f"/segments/{ids[0]}/split", {"at": 2, "version": 0}),
        ("POST", f"/segments/{ids[0]}/merge", {"version": 0, "next_version": 0}),
        ("POST", f"/hearings/{hid}/replace", {"find": "开庭", "replace": "闭庭", "apply": True}),
        ("POST", f"/hearings/{hid}/replace", {"find": "开庭", "replace": "闭庭"}),
        ("PUT", f"/hearings/{hid}/checked", {"segment_id": ids[0]}),
    ]


def test_a_viewer_is_refused_every_write_with_403(store: Store, world: World) -> None:
    before = [(s.id, s.text) for s in store.segments(world.own)]
    for method, path, body in writes(store, world.own):
        e = refused(store, "qian", method, path, body)
        assert e.status == 403 and "may not edit" in e.detail, (path, e.detail)
    assert [(s.id, s.text) for s in store.segments(world.own)] == before
    assert store.edits(hearing_id=world.own) == [] and store.checked(world.own) is None


def test_another_cases_clerk_gets_404_on_every_route_like_a_missing_hearing(store: Store, world: World) -> None:
    before = [(s.id, s.text) for s in store.segments(world.other)]
    routes = [("GET", f"/hearings/{world.other}/desk", None), ("GET", f"/hearings/{world.other}/checked", None),
              *writes(store, world.other)]  # fmt: skip
    for method, path, body in routes:
        e = refused(store, "wang", method, path, body)
        assert (e.status, e.detail) == (404, MISSING), (path, e.detail)
        assert "赵飞燕" not in e.detail
    for method, path, body in writes(store, world.own):  # and li, the other case's clerk, on ours
        e = refused(store, "li", method, path, body)
        assert (e.status, e.detail) == (404, MISSING), (path, e.detail)
    assert [(s.id, s.text) for s in store.segments(world.other)] == before
    assert store.edits(hearing_id=world.other) == [] and store.audit_rows(action=audit.HEARING_OPENED) == []


# --- through real HTTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(_template: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("desk-http")
    shutil.copyfile(_template.db, data / "workbench.duckdb")
    db = data / "workbench.duckdb"
    secrets = {"wang": make_session(db, "wang"), "qian": make_token(db, "qian"), "li": make_token(db, "li")}
    port = free_port()
    proc = start_server(data, port)
    try:
        yield {"api": f"http://127.0.0.1:{port}/api/v1", "secrets": secrets, "own": _template.own,
               "other": _template.other}  # fmt: skip
    finally:
        stop_server(proc)


def test_the_desk_through_http_with_the_browsers_cookie(server: dict[str, Any]) -> None:
    api_url, own, secrets = server["api"], server["own"], server["secrets"]
    cookies = {"wb_session": secrets["wang"]}
    r = requests.get(f"{api_url}/hearings/{own}/desk", cookies=cookies, timeout=30)
    assert r.status_code == 200, r.text
    desk = r.json()
    seg = desk["segments"][0]
    body = {"edits": [{"segment_id": seg["id"], "text": "现在开庭，请原告陈述。", "version": seg["version"]}]}
    r = requests.post(f"{api_url}/hearings/{own}/edits", cookies=cookies, json=body, timeout=30)
    assert r.status_code == 403 and r.json()["error"] == "csrf"  # a cookie writes only with the browser's header
    headers = {"X-Workbench-Client": "browser"}
    r = requests.post(f"{api_url}/hearings/{own}/edits", cookies=cookies, json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert result["ok"] and result["version"] > 0
    again = requests.get(f"{api_url}/hearings/{own}/desk", cookies=cookies, timeout=30).json()
    assert again["segments"][0]["text"] == "现在开庭，请原告陈述。" and again["segments"][0]["edited"]
    # unsigned: 401; a viewer's token writing: 403; another case's clerk: 404 like a missing hearing
    assert requests.get(f"{api_url}/hearings/{own}/desk", timeout=30).status_code == 401
    assert requests.post(f"{api_url}/hearings/{own}/edits", json=body, timeout=30).status_code == 401
    viewer = {"Authorization": f"Bearer {secrets['qian']}"}
    assert requests.post(f"{api_url}/hearings/{own}/edits", json=body, headers=viewer, timeout=30).status_code == 403
    assert requests.get(f"{api_url}/hearings/{own}/desk", headers=viewer, timeout=30).status_code == 200
    other = {"Authorization": f"Bearer {secrets['li']}"}
    r = requests.get(f"{api_url}/hearings/{own}/desk", headers=other, timeout=30)
    assert r.status_code == 404 and r.json()["detail"] == MISSING
    r = requests.put(f"{api_url}/hearings/{own}/checked", json={"segment_id": seg["id"]}, headers=other, timeout=30)
    assert r.status_code == 404


# --- the CLI verbs, through the API ----------------------------------------------------------------------


def cli(world: World, *args: str, as_name: str) -> Any:
    from click.testing import CliRunner

    from workbench.cli import main

    return CliRunner().invoke(main, [*args, "--db", str(world.db), "--as", as_name])


def test_cli_split_merge_replace_and_checked(world: World) -> None:
    with Store(world.db) as store:
        ids = seg_ids(store, world.own)
    out = cli(world, "segments", "split", str(ids[1]), "--at", "8", as_name="wang")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"segment {ids[1]} 0:00:05 (S1): 原告请求判令被告" and lines[1].endswith(
        "(S1): 张某某支付货款。"
    )
    out = cli(world, "segments", "split", str(ids[1]), "--at", "3", "--version", "0", as_name="wang")
    assert out.exit_code == 1 and "changed by wang" in out.output  # against an old version: refused
    assert cli(world, "segments", "split", str(ids[1]), "--at", "99", as_name="wang").exit_code == 2
    out = cli(world, "segments", "merge", str(ids[1]), as_name="wang")
    assert out.exit_code == 0 and out.output.startswith(f"segment {ids[1]} (S1): {LINES[1][1]}  (merged"), out.output
    out = cli(world, "segments", "merge", str(ids[-1]), as_name="wang")
    assert out.exit_code == 1 and "last" in out.output
    out = cli(world, "segments", "replace", str(world.own), "张某某", "张某", as_name="wang")
    assert out.exit_code == 0 and out.output.endswith("2 occurrence(s) in 2 segment(s)\n"), out.output
    assert "→ 原告请求判令被告张某支付货款。" in out.output
    with Store(world.db) as store:
        assert store.segment(ids[2]).text == LINES[2][1]  # a preview changes nothing
    out = cli(world, "segments", "replace", str(world.own), "张某某", "张某", "--apply", as_name="wang")
    assert out.exit_code == 0 and out.output.endswith("replaced in 2 segment(s)\n"), out.output
    out = cli(world, "segments", "replace", str(world.own), "张某某", "张某", "--apply", as_name="qian")
    assert out.exit_code == 1 and "may not edit" in out.output
    for verb in (("split", str(ids[0]), "--at", "2"), ("merge", str(ids[0]))):  # li: a clerk of the other case
        out = cli(world, "segments", *verb, as_name="li")
        assert out.exit_code == 1 and "not found or not yours" in out.output, (verb, out.output)
    out = cli(world, "hearings", "checked", str(world.own), str(ids[2]), as_name="wang")
    assert out.exit_code == 0 and f"checked up to segment {ids[2]} (0:00:14) by wang" in out.output, out.output
    out = cli(world, "hearings", "checked", str(world.own), as_name="qian")
    assert out.exit_code == 0 and f"checked up to segment {ids[2]}" in out.output
    with Store(world.db) as store:  # showing the mark reads no text: not an opening of the hearing
        assert [r for r in store.audit_rows(action=audit.HEARING_OPENED) if r.account == "qian"] == []
    out = cli(world, "hearings", "checked", str(world.own), "--clear", as_name="wang")
    assert out.exit_code == 0 and out.output == f"hearing {world.own}: no checked mark\n"
    out = cli(world, "hearings", "checked", str(world.other), str(ids[0]), as_name="wang")
    assert out.exit_code == 1 and "not found or not yours" in out.output
    with Store(world.db) as store:
        assert [e.user for e in store.edits(segment_id=ids[2])] == ["wang"]
        assert store.checked(world.own) is None
