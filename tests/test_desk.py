"""The review desk below the API: words placed on corrected text (UTF-16 offsets), low confidence, find and
replace, and in a real DuckDB store: batched edits, split, merge (nothing lost, `derived_text` still the
text, the keyword index following), the "checked up to here" mark, the V8 tables."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from store_samples import CASE, LINES, TESTER, hearing

from workbench.desk import (
    align,
    cut,
    from_utf16,
    join_texts,
    low_confidence,
    replace_in,
    to_utf16,
    utf16_len,
    word_spans,
)
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript, Word
from workbench.store import NotFound, StaleEdit, Store, audit, migrations, search
from workbench.store.desk import SegmentEdit
from workbench.store.status import HearingStatus

# --- words onto the text -----------------------------------------------------------------------------


def spans_text(words: list[list], text: str) -> list[str]:
    """What each placed word covers in `text` (BMP text: UTF-16 offsets are indexes)."""
    return [text[a:b] for _, _, a, b, _ in word_spans(words, text)]


def test_whisper_words_with_leading_spaces_land_on_the_words_without_the_spaces() -> None:
    words = [
        [0.0, 0.4, " The", 0.9],
        [0.4, 0.9, " contract", 0.3],
        [0.9, 1.2, " was", 0.8],
        [1.2, 1.8, " signed.", 0.7],
    ]
    text = "The contract was signed."
    assert spans_text(words, text) == ["The", "contract", "was", "signed."]
    assert word_spans(words, text)[1] == [0.4, 0.9, 4, 12, 0.3]


def test_funasr_characters_land_on_a_text_with_punctuation_added() -> None:
    chars = "现在开庭请原告陈述"
    words = [[i * 0.2, i * 0.2 + 0.2, c, None] for i, c in enumerate(chars)]
    text = "现在开庭，请原告陈述。"
    assert spans_text(words, text) == list(chars)
    assert low_confidence(word_spans(words, text), 0.5) == 0  # FunASR gives no probabilities: none counted


def test_a_retyped_word_is_left_out_and_the_others_still_land_where_they_are_now() -> None:
    words = [[0.0, 0.5, "原告", 0.9], [0.5, 1.0, "请求", 0.2], [1.0, 1.5, "十二", 0.4], [1.5, 2.0, "万元", 0.9]]
    text = "原告要求12万元"  # 请求 -> 要求 (one character survives), 十二 -> 12 (inverse text normalisation: none)
    assert spans_text(words, text) == ["原告", "求", "万元"]
    spans = word_spans(words, text)
    assert [s[0] for s in spans] == [0.0, 0.5, 1.5]  # the times stay each word's own
    assert low_confidence(spans, 0.5) == 1  # 十二 (0.4) is gone from the text; 请求 (0.2) is there


def test_a_clerk_inserting_text_between_words_moves_the_later_words() -> None:
    words = [[0.0, 0.5, " Objection", 0.9], [0.5, 1.0, " noted.", 0.9]]
    assert spans_text(words, "Objection is noted.") == ["Objection", "noted."]
    assert word_spans(words, "") == [] and word_spans([], "text") == []


def test_offsets_are_utf16_code_units_as_javascript_counts_them() -> None:
    text = "𠮷野家😀好"  # 𠮷 and 😀 are outside the BMP: two UTF-16 units each
    words = [[0.0, 0.5, "𠮷野", 0.9], [0.5, 1.0, "家", 0.9], [1.0, 1.5, "好", 0.1]]
    assert [s[2:4] for s in word_spans(words, text)] == [[0, 3], [3, 4], [6, 7]]
    assert utf16_len(text) == 7 and to_utf16(text, 4) == 6 and from_utf16(text, 6) == 4
    with pytest.raises(ValueError, match="splits a character"):
        from_utf16(text, 1)
    with pytest.raises(ValueError, match="outside"):
        from_utf16("abc", 4)


def test_word_objects_and_stored_lists_align_the_same() -> None:
    stored = [[0.0, 0.5, " Hello", 0.9], [0.5, 1.0, " world", None]]
    objects = [Word(0.0, 0.5, " Hello", 0.9), Word(0.5, 1.0, " world", None)]
    assert word_spans(stored, "Hello, world") == word_spans(objects, "Hello, world")
    assert align(stored, "Hello, world") == [(0, 0, 5), (1, 7, 12)]


def test_three_thousand_segments_align_quickly() -> None:
    """The desk opens a 3-hour hearing in one read: the alignment must not be what makes it slow."""
    rows = []
    for i in range(3000):
        chars = "被告对证据三的真实性有异议认为借条并非本人签字"[: 10 + i % 12]
        words = [[i + k * 0.1, i + k * 0.1 + 0.1, c, 0.4 + (k % 5) / 10] for k, c in enumerate(chars)]
        text = chars[:5] + "，" + chars[5:] + "。" if i % 10 else chars.replace("三", "3")  # every 10th: retyped
        rows.append((words, text))
    t0 = time.perf_counter()
    spans = [word_spans(w, t) for w, t in rows]
    elapsed = time.perf_counter() - t0
    assert sum(len(s) for s in spans) > 40_000
    assert elapsed < 2.0, f"{elapsed:.2f} s for 3,000 segments"  # about 0.1 s on the 2-core machine when idle


# --- cut, join, replace --------------------------------------------------------------------------------


def test_a_cut_starts_at_the_first_word_after_it_else_at_its_share_of_the_time() -> None:
    words = [[10.0, 10.5, "被告", 0.9], [10.5, 11.0, "张三", 0.9], [12.0, 12.5, "有异议", 0.9]]
    text = "被告张三有异议。"
    c = cut(words, text, 4, 10.0, 14.0)
    assert (c.index, c.word_index, c.t) == (4, 2, 12.0)
    c = cut(words, text, 7, 10.0, 14.0)  # before the final "。": no word after it
    assert c.word_index == 3 and c.t == pytest.approx(10.0 + 4.0 * 7 / 8)
    for edge in (0, 8, 9):
        with pytest.raises(ValueError):
            cut(words, text, edge, 10.0, 14.0)


def test_joined_texts_get_a_space_only_between_latin_letters_or_digits() -> None:
    assert join_texts("被告", "有异议") == "被告有异议"
    assert join_texts("The contract", "was signed.") == "The contract was signed."
    assert join_texts("Exhibit A.", "The") == "Exhibit A.The"  # a full stop is not a letter: as typed
    assert join_texts("第3", "条") == "第3条" and join_texts("", "x") == "x"


def test_replace_is_literal_and_counts() -> None:
    assert replace_in("张某某与张某某", "张某某", "张某") == ("张某与张某", 2)
    assert replace_in("a.b a+b", "a.b", r"\1") == (r"\1 a+b", 1)  # no patterns, no backreferences
    assert replace_in("Exhibit exhibit", "EXHIBIT", "证据", match_case=False) == ("证据 证据", 2)
    assert replace_in("Exhibit exhibit", "EXHIBIT", "证据") == ("Exhibit exhibit", 0)
    with pytest.raises(ValueError, match="empty"):
        replace_in("x", "", "y")


# --- the store -----------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "wb.duckdb") as s:
        yield s


def worded(store: Store) -> int:
    """A hearing whose segments carry one recognised word per character (the third: 被告张三丰...)."""
    segments = []
    for i, (spk, text) in enumerate(LINES):
        start = i * 5.0
        step = 4.0 / len(text)
        words = [Word(start + k * step, start + (k + 1) * step, c, 0.3 if c == "丰" else 0.9) for k, c in
                 enumerate(text) if not c.isspace()]  # fmt: skip
        segments.append(Segment(start, start + 4.5, text, spk, words))
    t = Transcript(
        file="h.wav", sha256="0" * 64, duration=25.0, language="zh", engine=EngineInfo("whisper", "m"),
        segments=segments, speakers=[SpeakerSummary(s, 1.0, float(i), None) for i, s in enumerate(("S1", "S2", "S3"))],
    )  # fmt: skip
    c = store.ensure_case(CASE, actor=TESTER)
    hid = store.add_hearing(c.id)
    store.save_transcript(hid, t)
    return hid


def hits(store: Store, query: str, hearing_id: int) -> list[int]:
    return [h.segment_id for h in search.search(store, query, hearing_id=hearing_id, include_sealed=True)]


def test_the_file_is_at_v8_with_the_desk_tables(store: Store) -> None:
    assert migrations.LATEST >= 8
    with store.reading() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"removed_segments", "review_marks"} <= tables


def test_split_divides_text_time_and_words_and_keeps_the_hearing_in_order(store: Store) -> None:
    hid = worded(store)
    before = store.segments(hid)
    third = before[2]  # 被告张三丰对证据三的真实性有异议，认为借条并非本人签字。 spoken 10.0-14.5
    words_before = store.segment_words(hid)[third.id]
    first, second = store.split_segment(third.id, 5, actor=TESTER, expected_version=0)
    assert (first.id, first.text, second.text) == (
        third.id,
        "被告张三丰",
        "对证据三的真实性有异议，认为借条并非本人签字。",
    )
    assert first.start == third.start and second.end == third.end
    assert first.end == second.start == pytest.approx(words_before[5].start)  # where 对 was recognised
    words = store.segment_words(hid)
    assert words[first.id] + words[second.id] == words_before  # divided, none lost
    assert "".join(w.text for w in words[first.id]) == "被告张三丰"
    assert second.text_orig == "" and second.speaker == second.speaker_orig == third.speaker
    after = store.segments(hid)
    assert [s.idx for s in after] == list(range(len(before) + 1))
    assert [s.id for s in after] == [s.id for s in before[:3]] + [second.id] + [s.id for s in before[3:]]
    # both halves are edits: rows with the account, their audit row, derived_text still the text
    rows = [e for e in store.edits(hearing_id=hid) if e.field == "split"]
    assert [(e.segment_id, e.before, e.after, e.user) for e in rows] == [
        (first.id, third.text, "被告张三丰", "tester"),
        (second.id, "", second.text, "tester"),
    ]
    [row] = store.audit_rows(action=audit.SEGMENT_SPLIT)
    assert row.id == rows[0].audit_id == rows[1].audit_id and row.detail["new_segment_id"] == second.id
    assert store.derived_text(first.id) == first.text and store.derived_text(second.id) == second.text
    assert store.segment_version(first.id) == rows[0].id and store.segment_version(second.id) == rows[1].id
    assert store.hearing(hid).status == HearingStatus.IN_REVIEW
    # the index follows at once
    assert hits(store, "借条", hid) == [second.id]
    assert hits(store, "张三丰", hid) == [first.id]


def test_merge_joins_with_the_next_and_keeps_the_removed_row_whole(store: Store) -> None:
    hid = worded(store)
    segs = store.segments(hid)
    a, b = segs[3], segs[4]  # 原告请求判令... + Objection noted. The contract was signed in Shanghai.
    words_before = store.segment_words(hid)
    merged, removed, joined_at = store.merge_segments(a.id, actor=TESTER, expected_version=0, next_version=0)
    assert removed == b.id and merged.text == a.text + b.text and joined_at == len(a.text)
    assert (merged.start, merged.end, merged.speaker) == (a.start, b.end, a.speaker)
    assert store.segment_words(hid)[a.id] == words_before[a.id] + words_before[b.id]
    assert [s.id for s in store.segments(hid)] == [s.id for s in segs[:4]]
    with pytest.raises(NotFound):
        store.segment(b.id)
    with store.reading() as con:
        [kept] = con.execute(
            "SELECT id, text, text_orig, speaker_orig, merged_into, removed_by, words FROM removed_segments "
            "WHERE hearing_id = ?",
            [hid],
        ).fetchall()
    assert kept[:6] == (b.id, b.text, b.text_orig, b.speaker_orig, a.id, "tester")
    assert json.loads(kept[6]) == [[w.start, w.end, w.text, w.prob] for w in words_before[b.id]]
    [e] = [e for e in store.edits(hearing_id=hid) if e.field == "merge"]
    assert (e.segment_id, e.before, e.after) == (a.id, a.text, merged.text)
    assert store.audit_rows(action=audit.SEGMENTS_MERGED)[0].detail["removed"] == b.id
    assert store.derived_text(a.id) == merged.text
    assert hits(store, "Shanghai", hid) == [a.id]  # found in the merged one, the removed one no more


def test_a_split_undone_by_a_merge_and_a_merge_by_a_split_at_joined_at(store: Store) -> None:
    hid = worded(store)
    seg = store.segments(hid)[1]  # The plaintiff submits Exhibit A-3 as evidence ...
    first, second = store.split_segment(seg.id, 21, actor=TESTER, expected_version=0)
    assert (first.text, second.text) == ("The plaintiff submits", "Exhibit A-3 as evidence of the breach of contract.")
    merged, removed, joined_at = store.merge_segments(
        first.id, actor=TESTER, expected_version=store.segment_version(first.id),
        next_version=store.segment_version(second.id),
    )  # fmt: skip
    assert merged.text == seg.text and merged.end == seg.end and removed == second.id
    again, third = store.split_segment(
        merged.id, joined_at, actor=TESTER, expected_version=store.segment_version(seg.id)
    )
    assert (again.text, third.text) == (first.text, second.text)
    # spaces at a cut go with it: "Objection noted." | " The contract ..."
    last = store.segments(hid)[-1]
    one, two = store.split_segment(last.id, 16, actor=TESTER, expected_version=0)
    assert (one.text, two.text) == ("Objection noted.", "The contract was signed in Shanghai.")
    assert store.derived_text(seg.id) == again.text and store.derived_text(third.id) == third.text
    assert [s.idx for s in store.segments(hid)] == list(range(7))


def test_stale_or_impossible_splits_and_merges_change_nothing(store: Store) -> None:
    hid = worded(store)
    segs = store.segments(hid)
    store.edit_segment(segs[0].id, text="现在开庭。", actor=TESTER)
    store.edit_segment(segs[1].id, text="Changed.", actor=TESTER)
    with pytest.raises(StaleEdit, match="changed by tester"):
        store.split_segment(segs[0].id, 2, actor=TESTER, expected_version=0)
    with pytest.raises(StaleEdit):
        store.merge_segments(segs[0].id, actor=TESTER, expected_version=store.segment_version(segs[0].id),
                             next_version=0)  # fmt: skip
    with pytest.raises(ValueError, match="last"):
        store.merge_segments(segs[-1].id, actor=TESTER, expected_version=0, next_version=0)
    with pytest.raises(ValueError):
        store.split_segment(segs[2].id, 0, actor=TESTER, expected_version=0)
    with pytest.raises(ValueError):
        store.split_segment(segs[2].id, len(segs[2].text), actor=TESTER, expected_version=0)
    store.edit_segment(segs[3].id, text="   原告", actor=TESTER)
    with pytest.raises(ValueError, match="only spaces"):
        store.split_segment(segs[3].id, 2, actor=TESTER, expected_version=None)
    with pytest.raises(NotFound):
        store.split_segment(10**9, 1, actor=TESTER, expected_version=0)
    assert [(s.id, s.text) for s in store.segments(hid)][4:] == [(s.id, s.text) for s in segs[4:]]
    assert len(store.segments(hid)) == len(segs)
    assert store.audit_rows(action=audit.SEGMENT_SPLIT) == store.audit_rows(action=audit.SEGMENTS_MERGED) == []


def test_a_checked_hearing_goes_back_to_review_after_a_split_as_after_an_edit(store: Store) -> None:
    hid = worded(store)
    store.check(hid, actor=TESTER)
    seg = store.segments(hid)[0]
    store.split_segment(seg.id, 3, actor=TESTER, expected_version=0)
    assert store.hearing(hid).status == HearingStatus.IN_REVIEW  # issue 16: nobody checked the new shape
    assert [s.step for s in store.signoff_steps(hid)] == ["checked", "returned"]
    assert store.signoff_steps(hid)[-1].audit_id == store.audit_rows(action=audit.SEGMENT_SPLIT)[0].id
    store.check(hid, actor=TESTER)
    store.edit_segment(seg.id, text="现在", actor=TESTER)
    assert store.hearing(hid).status == HearingStatus.IN_REVIEW
    assert [s.step for s in store.signoff_steps(hid)] == ["checked", "returned", "checked", "returned"]


def test_a_batch_of_edits_goes_on_past_a_stale_or_foreign_item(store: Store) -> None:
    hid = worded(store)
    other = hearing(store, [("S1", "另一个庭审。")], case="（2024）京0105民初9999号")
    segs = store.segments(hid)
    foreign = store.segments(other)[0].id
    store.edit_segment(segs[1].id, text="Someone else's.", actor=audit.Actor("zhou", "test"))
    out = store.edit_segments(
        hid,
        [SegmentEdit(segs[0].id, text="现在开庭了。", version=0), SegmentEdit(segs[1].id, text="Mine.", version=0),
         SegmentEdit(foreign, text="不该改。", version=0), SegmentEdit(segs[2].id, speaker="S9", version=0)],
        actor=TESTER,
    )  # fmt: skip
    assert [(o.ok, o.error) for o in out] == [(True, None), (False, "stale"), (False, "not_found"), (True, None)]
    assert "changed by zhou" in out[1].detail
    assert store.segment(segs[0].id).text == "现在开庭了。" and store.segment(segs[1].id).text == "Someone else's."
    assert store.segment(foreign).text == "另一个庭审。" and store.segment(segs[2].id).speaker == "S9"
    assert "S9" in {s.label for s in store.speakers(hid)}
    assert hits(store, "开庭了", hid) == [segs[0].id]
    rows = store.desk_rows(hid, [segs[0].id, segs[2].id])
    assert [r.version for r in rows] == [store.segment_version(segs[0].id), store.segment_version(segs[2].id)]
    with pytest.raises(NotFound):
        store.edit_segments(10**6, [SegmentEdit(segs[0].id, text="x", version=None)], actor=TESTER)
    # one segment twice in a batch: the second against the version before the first is stale, unchecked is not
    version = store.segment_version(segs[3].id)
    out = store.edit_segments(
        hid,
        [SegmentEdit(segs[3].id, text="一。", version=version), SegmentEdit(segs[3].id, text="二。", version=version),
         SegmentEdit(segs[3].id, text="三。")],
        actor=TESTER,
    )  # fmt: skip
    assert [o.error for o in out] == [None, "stale", None] and store.segment(segs[3].id).text == "三。"
    assert [e.after for e in store.edits(segment_id=segs[3].id)] == ["一。", "三。"]
    assert store.derived_text(segs[3].id) == "三。" and store.edit_segments(hid, [], actor=TESTER) == []


def test_the_checked_mark_is_one_per_hearing_follows_a_merge_and_clears(store: Store) -> None:
    hid = worded(store)
    segs = store.segments(hid)
    assert store.checked(hid) is None
    mark = store.set_checked(hid, segs[1].id, actor=TESTER)
    assert mark is not None and (mark.segment_id, mark.t, mark.by) == (segs[1].id, segs[1].end, "tester")
    store.set_checked(hid, segs[2].id, actor=audit.Actor("zhou", "test"))
    again = store.checked(hid)
    assert again is not None and (again.segment_id, again.by) == (segs[2].id, "zhou")
    merged, _, _ = store.merge_segments(segs[1].id, actor=TESTER, expected_version=0, next_version=0)  # marked: away
    moved = store.checked(hid)
    assert moved is not None and (moved.segment_id, moved.t) == (segs[1].id, merged.end)
    _, second = store.split_segment(segs[1].id, 3, actor=TESTER, expected_version=store.segment_version(segs[1].id))
    moved = store.checked(hid)  # the mark covered the whole segment: now up to its second half
    assert moved is not None and moved.segment_id == second.id and moved.t == second.end
    with pytest.raises(NotFound):
        store.set_checked(hid, 10**9, actor=TESTER)
    other = hearing(store, [("S1", "另一个庭审。")])
    with pytest.raises(NotFound):
        store.set_checked(hid, store.segments(other)[0].id, actor=TESTER)  # not a segment of this hearing
    # a mark on the kept one of a merge: it grew, the mark resumes at its new end
    store.set_checked(hid, segs[3].id, actor=TESTER)
    grown, _, _ = store.merge_segments(
        segs[3].id, actor=TESTER, expected_version=0, next_version=store.segment_version(segs[4].id)
    )
    assert grown.end == segs[4].end > segs[3].end
    moved = store.checked(hid)
    assert moved is not None and (moved.segment_id, moved.t) == (segs[3].id, grown.end)
    assert store.set_checked(hid, None, actor=TESTER) is None and store.checked(hid) is None
    rows = store.audit_rows(action=audit.REVIEW_MARKED)
    assert [r.detail["segment_id"] for r in reversed(rows)] == [segs[1].id, segs[2].id, segs[3].id, None]
    assert store.verify_audit().ok


def test_the_placed_words_cache_follows_the_text_and_the_words() -> None:
    from workbench.desk import forget_spans, stored_word_spans

    forget_spans()
    words = json.dumps([[0.0, 0.5, "原告", 0.9], [0.5, 1.0, "请求", 0.2]], ensure_ascii=False)
    first = stored_word_spans("a.duckdb", 1, words, "原告请求。")
    assert stored_word_spans("a.duckdb", 1, words, "原告请求。") is first  # the same text and words: kept
    assert stored_word_spans("a.duckdb", 1, words, "甲方请求。") == [[0.5, 1.0, 2, 4, 0.2]]  # retyped
    other = json.dumps([[0.0, 0.5, "原告", 0.1]], ensure_ascii=False)
    assert stored_word_spans("a.duckdb", 1, other, "原告请求。") == [[0.0, 0.5, 0, 2, 0.1]]  # split: fewer words
    assert stored_word_spans("b.duckdb", 1, words, "原告请求。") == first  # another file's segment 1: its own


def test_a_merge_may_not_make_a_text_longer_than_the_cap_or_than_either_already_is(store: Store) -> None:
    hid = hearing(store, [("S1", "甲" * 30), ("S1", "乙" * 30), ("S1", "丙" * 50), ("S1", "丁" * 5)])
    segs = store.segments(hid)
    with pytest.raises(ValueError, match="over the cap of 50"):
        store.merge_segments(segs[0].id, actor=TESTER, expected_version=0, next_version=0, text_max=50)
    assert [s.text for s in store.segments(hid)] == [s.text for s in segs] and store.edits(hearing_id=hid) == []
    # a stored text already past the cap stays, only not longer: 50 + 5 > 50 is refused, 30 + 30 fits 60
    with pytest.raises(ValueError, match="55 characters, over the cap of 50"):
        store.merge_segments(segs[2].id, actor=TESTER, expected_version=0, next_version=0, text_max=10)
    merged, _, _ = store.merge_segments(segs[0].id, actor=TESTER, expected_version=0, next_version=0, text_max=60)
    assert merged.text == "甲" * 30 + "乙" * 30


def test_a_rows_latest_edit_says_whether_a_split_or_merge_reshaped_it(store: Store) -> None:
    hid = worded(store)
    segs = store.segments(hid)
    first, second = store.split_segment(segs[2].id, 5, actor=TESTER, expected_version=0)
    store.edit_segment(segs[0].id, text="现在开庭。", actor=TESTER, expected_version=0)
    rows = {r.id: r for r in store.desk_rows(hid)}
    assert (rows[first.id].last_edit, rows[first.id].reshaped, rows[second.id].reshaped) == ("split", True, True)
    assert (rows[segs[0].id].last_edit, rows[segs[0].id].reshaped) == ("text", False)
    assert (rows[segs[1].id].last_edit, rows[segs[1].id].reshaped) == (None, False)
    store.edit_segment(first.id, text="被告张三", actor=TESTER, expected_version=rows[first.id].version)
    assert not store.desk_rows(hid, [first.id])[0].reshaped  # typed in since: an ordinary edit again
    store.merge_segments(segs[3].id, actor=TESTER, expected_version=0, next_version=0)
    assert store.desk_rows(hid, [segs[3].id])[0].last_edit == "merge"


def test_replacements_lists_each_segment_with_its_version_before_after_and_count() -> None:
    from workbench.desk import Replacement, replacements

    @dataclass
    class Row:
        id: int
        version: int
        text: str

    rows = [Row(1, 0, "张某某与张某某"), Row(2, 7, "无关"), Row(3, 9, "Zhang 张某某")]
    assert replacements(rows, "张某某", "张某") == [
        Replacement(1, 0, "张某某与张某某", "张某与张某", 2), Replacement(3, 9, "Zhang 张某某", "Zhang 张某", 1),
    ]  # fmt: skip
    assert [r.segment_id for r in replacements(rows, "zhang", "Z", match_case=False)] == [3]
    assert replacements(rows, "zhang", "Z") == []
    assert replacements(rows, "张某某", "\\1")[0].after == "\\1与\\1"  # literal, no backreferences
