"""Keyword search: Chinese and English, phrases, filters, edits seen at once, BM25 agreeing with fts."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from store_samples import CASE, LINES, TESTER, hearing, transcript

from workbench.cli import main
from workbench.store import Store, index, query, search
from workbench.store.audit import Actor

OTHER_CASE = "（2023）沪0101民初88号"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "wb.duckdb") as s:
        yield s


@pytest.fixture
def two_hearings(store: Store) -> tuple[int, int]:
    a = hearing(store, starts_at=datetime(2024, 3, 5, 9, 30))
    b = hearing(
        store,
        [("S1", "本案的借条由张三出具，原告提供了转账记录。"), ("S2", "The contractor was paid in full.")],
        case=OTHER_CASE,
        starts_at=datetime(2023, 11, 20, 14, 0),
    )
    store.set_speaker(a, "S2", role="原告", name="甲公司", actor=TESTER)
    store.set_speaker(a, "S3", role="被告", name="张三丰", actor=TESTER)
    return a, b


def ids(hits: list[query.Hit]) -> list[tuple[int, float]]:
    return [(h.hearing_id, h.start) for h in hits]


def find(store: Store, text: str, **filters: object) -> list[query.Hit]:
    """`search.search` as an account that may see sealed text (leaving it out: tests/test_signoff.py)."""
    return search.search(store, text, include_sealed=True, **filters)  # type: ignore[arg-type]


def test_an_accounts_cases_filter_inside_the_query(store: Store, two_hearings: tuple[int, int]) -> None:
    """A member of the first case finds nothing of the other, whatever path the query takes."""
    a, b = two_hearings
    store.set_speaker(b, "S1", role="证人", name="赵飞燕", actor=TESTER)
    mine = frozenset({store.case(CASE).id})
    theirs = frozenset({store.case(OTHER_CASE).id})
    for q, kw in (
        ("转账记录", {}),  # a word only in the other case
        ('"转账记录"', {}),  # a phrase
        ("账", {}),  # a single character: the text scan
        ("contractor paid", {}),  # several words (the MaxScore shortcut)
        ("借条", {"role": "证人"}),
        ("借条", {"speaker": "赵飞燕"}),
        ("张三", {"case": OTHER_CASE}),  # asking for the other case by name does not open it
    ):
        assert find(store, q, case_ids=mine, **kw) == [], (q, kw)
        assert {h.hearing_id for h in find(store, q, case_ids=theirs, **kw)} == {b}, (q, kw)
    assert ids(find(store, "张三", case_ids=mine)) == [(a, 10.0)]  # in both cases: only ours
    assert find(store, "张三", case_ids=frozenset()) == []  # a member of no case
    assert len(find(store, "张三", case_ids=None)) == 2  # an admin: every case
    positional = query.Filters(None, None, None, None, None, None)  # the older positional form still works
    assert positional.case_ids is None


def test_a_score_says_nothing_of_other_cases(store: Store) -> None:
    """BM25 counts over the cases the account may see: a hit in its own case scores the same whether or not
    a case it may not see holds the word (counted over every case, the score told which)."""
    from store_samples import hearing

    hearing(store, [("S1", "证人提到了zorblax这个词"), ("S2", "别的内容")], case="A-1")
    mine = frozenset({store.case("A-1").id})
    alone = find(store, "zorblax", case_ids=mine)[0].score
    hearing(store, [("S1", "zorblax zorblax zorblax"), ("S2", "zorblax 又一次 zorblax")], case="B-2")
    assert find(store, "zorblax", case_ids=mine)[0].score == pytest.approx(alone)
    assert find(store, "zorblax")[0].score != pytest.approx(alone)  # an admin's counts: every case


def test_analysis_indexes_bigrams_words_and_latin() -> None:
    terms = index.analyze("人民法院受理 Exhibit A-3，ＡＢＣ")
    assert {"人民", "民法", "法院", "院受", "受理", "人民法院", "exhibit", "a", "3", "abc"} <= set(terms)
    q = query.parse_query('原告的证据 "breach of contract" “张三丰”')
    assert q.phrases == ("breach of contract", "张三丰") and "原告" in q.words and "的" not in q.words


def test_chinese_word_and_substring(store: Store, two_hearings: tuple[int, int]) -> None:
    a, b = two_hearings
    assert ids(find(store, "诉讼请求")) == [(a, 0.0)]
    # 张三 is inside 张三丰 (one jieba word) in hearing a and a word of its own in hearing b
    assert sorted(ids(find(store, "张三"))) == [(a, 10.0), (b, 0.0)]
    hit = find(store, "借条", hearing_id=a)[0]
    assert hit.marked() == "被告张三丰对证据三的真实性有异议，认为【借条】并非本人签字。"
    assert hit.case_number == CASE and hit.role == "被告" and hit.name == "张三丰" and hit.speaker == "S3"
    assert hit.hearing_start == "2024-03-05T09:30:00" and hit.start == 10.0


def test_a_missing_word_does_not_hide_the_others(store: Store, two_hearings: tuple[int, int]) -> None:
    a, _ = two_hearings
    assert find(store, "终止") == []
    assert ids(find(store, "终止 诉讼请求")) == [(a, 0.0)]  # OR: the word that occurs is found
    # a long word jieba never produced whole: alone, an exact substring; among others, its bigrams
    assert ids(find(store, "三丰对证")) == [(a, 10.0)]
    assert (a, 10.0) in ids(find(store, "三丰对证 contractor"))


def test_single_character_is_found_by_scan(store: Store, two_hearings: tuple[int, int]) -> None:
    a, _ = two_hearings
    assert ids(find(store, "丰")) == [(a, 10.0)]


def test_english_is_whole_words_case_insensitive(store: Store, two_hearings: tuple[int, int]) -> None:
    a, b = two_hearings
    assert sorted(ids(find(store, "CONTRACT"))) == [(a, 5.0), (a, 20.0)]  # not "contractor"
    assert ids(find(store, "contractor")) == [(b, 5.0)]
    assert find(store, "exhibit")[0].marked().count("【Exhibit】") == 1


def test_several_words_rank_segments_with_more_of_them_first(store: Store, two_hearings: tuple[int, int]) -> None:
    a, _ = two_hearings
    hits = find(store, "contract exhibit evidence")
    assert ids(hits)[0] == (a, 5.0) and hits[0].score > hits[1].score
    assert find(store, "原告 逾期利息")[0].start == 15.0


def test_exact_phrase(store: Store, two_hearings: tuple[int, int]) -> None:
    a, _ = two_hearings
    assert ids(find(store, '"breach of contract"')) == [(a, 5.0)]
    assert find(store, '"contract of breach"') == []
    assert find(store, '"A-3 as evid"') == [] and len(find(store, '"A-3 as evidence"')) == 1
    assert ids(find(store, '"证据三的真实性"')) == [(a, 10.0)]
    assert find(store, '"证据三真实性"') == []  # the same characters, not adjacent
    # a phrase and a word: the phrase is required, the word only ranks
    assert ids(find(store, '"signed in Shanghai" contract')) == [(a, 20.0)]


def test_filters(store: Store, two_hearings: tuple[int, int]) -> None:
    a, b = two_hearings
    assert ids(find(store, "原告", case=OTHER_CASE)) == [(b, 0.0)]
    assert {h for h, _ in ids(find(store, "原告", date_from=date(2024, 1, 1)))} == {a}
    assert {h for h, _ in ids(find(store, "原告", date_to=date(2023, 12, 31)))} == {b}
    assert ids(find(store, "原告", role="原告")) == [(a, 15.0)]
    assert ids(find(store, "张三", speaker="张三丰")) == [(a, 10.0)]
    assert ids(find(store, "原告", speaker="S1", case=CASE)) == [(a, 0.0)]
    assert len(find(store, "原告", limit=1)) == 1
    assert find(store, "原告", case="no such case") == []


def test_an_edit_is_searchable_at_once_and_logged(store: Store, two_hearings: tuple[int, int]) -> None:
    a, _ = two_hearings
    seg = store.segments(a)[0]
    assert find(store, "代理人") == []
    store.edit_segment(seg.id, text="现在开庭，请原告代理人陈述诉讼请求。", actor=Actor("书记员王五", "test"))
    hits = find(store, "代理人")
    assert ids(hits) == [(a, 0.0)] and hits[0].edited
    assert find(store, "代理人", original=True) == []
    assert ids(find(store, '"请原告陈述"', original=True)) == [(a, 0.0)]
    edit = store.edits(segment_id=seg.id)[0]
    assert (edit.field, edit.before, edit.after, edit.user) == ("text", seg.text, hits[0].text, "书记员王五")


def test_a_new_hearing_is_searchable_when_it_commits(store: Store, two_hearings: tuple[int, int]) -> None:
    search.optimize(store, force=True)  # the old ones sorted, the new one in the unsorted tail
    c = hearing(store, [("S1", "鉴定人李明出具了鉴定意见书。")])
    assert ids(find(store, "鉴定意见书")) == [(c, 0.0)]
    store.save_transcript(c, transcript([("S1", "证人王芳出庭作证。")]))
    assert find(store, "鉴定意见书") == [] and ids(find(store, "王芳")) == [(c, 0.0)]


def test_bm25_agrees_with_duckdb_fts(store: Store) -> None:
    """Our SQL BM25 ranks like the fts extension's match_bm25 on the same (Latin) tokens."""
    docs = [
        "the contract was breached by the defendant",
        "the plaintiff signed the contract contract",
        "exhibit three shows the invoice",
        "the witness saw the invoice and the contract on the table in the office",
        "no relevant words here at all",
    ]
    hid = hearing(store, [("S1", d) for d in docs])
    ours = {h.start: h.score for h in find(store, "contract invoice", limit=10)}
    con = duckdb.connect()
    con.execute(f"LOAD '{search.fts_extension_path()}'")
    con.execute("CREATE TABLE d (id INTEGER, t VARCHAR)")
    con.executemany("INSERT INTO d VALUES (?, ?)", list(enumerate(docs)))
    con.execute("PRAGMA create_fts_index('d', 'id', 't', stemmer = 'none', stopwords = 'none')")
    theirs = dict(
        con.execute(
            "SELECT id * 5.0, fts_main_d.match_bm25(id, 'contract invoice') s FROM d WHERE s IS NOT NULL"
        ).fetchall()
    )
    assert set(ours) == set(theirs)
    assert sorted(ours, key=ours.get) == sorted(theirs, key=theirs.get)
    assert [ours[k] for k in sorted(ours)] == pytest.approx([theirs[k] for k in sorted(theirs)], rel=1e-6)
    assert store.hearing(hid).segments == len(docs)


def test_cli_search_json(tmp_path: Path) -> None:
    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        hid = hearing(s, starts_at=datetime(2024, 3, 5, 9, 30))
    runner = CliRunner()
    out = runner.invoke(main, ["search", "借条", "--db", str(db), "--json", "--case", CASE])
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)
    assert hits[0]["hearing_id"] == hid and hits[0]["start"] == 10.0 and "【借条】" in hits[0]["snippet_marked"]
    out = runner.invoke(main, ["search", "借条", "--db", str(db), "--from", "2024-04-01"])
    assert out.exit_code == 0 and "no match" in out.output
    with Store(db) as st:
        seg = next(x for x in st.segments(hid) if x.text == LINES[0][1])
    out = runner.invoke(main, ["segments", "edit", str(seg.id), "--text", "请原告代理人发言。", "--db", str(db)])
    assert out.exit_code == 0, out.output
    with Store(db) as st:  # no account in the store: the console operator, by login name
        assert st.edits(segment_id=seg.id)[-1].user.startswith("cli:")
    out = runner.invoke(main, ["search", "代理人", "--db", str(db)])
    assert f"hearing {hid} 0:00:00" in out.output and "【代理人】" in out.output


def test_rare_words_first_gives_the_same_top_hits(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MaxScore shortcut for queries mixing common and rare words ranks exactly like the full query."""
    lines = [("S1", f"the court heard witness {i} about the contract") for i in range(60)]
    lines += [("S2", f"the court admitted exhibit {i} and the invoice") for i in range(5)]
    lines += [("S2", "exhibit invoice invoice court")]
    hearing(store, lines)
    used: list[bool] = []
    real = search.Searcher._rare_first

    def spy(*args: object, **kwargs: object) -> object:
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(search.Searcher, "_rare_first", staticmethod(spy))
    monkeypatch.setattr(search, "COMMON_SHARE", 10.0)  # nothing is common: the full ranking
    full = [(h.segment_id, round(h.score, 9)) for h in find(store, "court invoice exhibit", limit=5)]
    monkeypatch.setattr(search, "COMMON_SHARE", 0.5)  # "court" and "the" are common
    quick = [(h.segment_id, round(h.score, 9)) for h in find(store, "court invoice exhibit", limit=5)]
    assert used == [False, True] and quick == full
    assert find(store, "court witness", limit=3)  # both common: no shortcut, still answered
