"""Redaction profiles: every planted identifier found, no look-alike touched, names masked only where the rules ask,
the stored record never changed, ids stable so a clerk's untick survives a new preview."""

from __future__ import annotations

import copy
import dataclasses
import io
import re
import time

import docx
import pytest
from redaction_table import LOOK_ALIKES, PLANTED, PUB, US, LookAlike, Planted, build_record, generated_rows

from workbench.record.fill import render_docx
from workbench.record.redact import (
    PROFILES,
    RedactionError,
    case_kind,
    find,
    found_tag,
    id18_check_digit,
    luhn_valid,
    redact,
    segment_index,
    surname_mask,
    valid_id15,
    valid_id18,
)
from workbench.speech.transcript import CorrectionNote, Party, SignoffNote, SpeakerLabel, Word

CONTRACT_KINDS = {"id_card", "mobile", "landline", "bank_card", "email", "plate", "address", "ssn", "account"}
CONTRACT_KINDS |= {"birth_date", "minor"}


def found(text: str, profile: str) -> list[tuple[str, str]]:
    return [(text[start:end], kind) for start, end, kind, _repl, _reason in find(text, profile)]


# --- the table ----------------------------------------------------------------------------------------------------


def test_the_table_is_as_big_as_the_issue_asks() -> None:
    assert len({(row.kind, row.identifier) for row in PLANTED}) >= 30
    assert len(LOOK_ALIKES) >= 30
    assert {row.kind for row in PLANTED} == CONTRACT_KINDS  # every kind but names (those need a roster, below)
    spellings = "".join(row.identifier for row in PLANTED)
    assert re.search("[０-９]", spellings) and "\u3000" in spellings and "－" in spellings and " " in spellings
    whats = {row.what for row in LOOK_ALIKES}
    assert {"case number", "statute", "sum", "date", "time", "ID bad checksum", "card fails Luhn"} <= whats


@pytest.mark.parametrize("row", PLANTED, ids=lambda r: f"{r.kind}:{r.identifier}")
def test_each_planted_identifier_is_found_exactly(row: Planted) -> None:
    assert found(row.text, row.profile) == [(row.identifier, row.kind)]
    if row.replacement:
        assert [hit[3] for hit in find(row.text, row.profile)] == [row.replacement]


@pytest.mark.parametrize("row", LOOK_ALIKES, ids=lambda r: f"{r.what}:{r.look_alike}")
def test_no_look_alike_is_touched(row: LookAlike) -> None:
    assert found(row.text, row.profile) == []
    # nor does the other profile touch it, unless it is what that profile removes (a phone under publication)
    elsewhere = [(row.look_alike, row.elsewhere)] if row.elsewhere else []
    assert found(row.text, US if row.profile == PUB else PUB) == elsewhere


@pytest.mark.parametrize(
    ("text", "replacement"),
    [
        ("SSN 123-45-6789.", "XXX-XX-6789"),
        ("EIN 12-3456789.", "XX-XXX6789"),
        ("card 4111 1111 1111 1111 used", "XXXX XXXX XXXX 1111"),
        ("account number 0012345678 frozen", "XXXXXX5678"),
        ("born on March 5, 1990 in Ohio", "1990"),
        ("原告1990年3月5日出生", "1990年"),
        ("Jane Q. Doe (minor) spoke", "J.Q.D."),
    ],
)
def test_us_frcp_keeps_the_last_four_the_year_and_initials(text: str, replacement: str) -> None:
    assert [hit[3] for hit in find(text, US)] == [replacement]


def test_an_address_keeps_its_county_or_district() -> None:
    text = "被告住北京市朝阳区建国路88号院3号楼2单元1502室，原告成都市武侯区玉林西路52号。"
    hits = find(text, PUB)
    assert [h[3] for h in hits] == ["北京市朝阳区×××", "成都市武侯区×××"]
    assert text[hits[1][0] : hits[1][1]] == "成都市武侯区玉林西路52号"  # "原告" before it is no part of it


def test_publication_replaces_with_crosses_and_says_why() -> None:
    hits = find("原告电话13812345678，身份证号110105199003071239。", PUB)
    assert [(h[2], h[3]) for h in hits] == [("mobile", "×××"), ("id_card", "×××")]
    assert all("(" in h[4] and h[4].strip() for h in hits)  # Chinese with English in brackets
    assert "校验" in hits[1][4]


def test_validators() -> None:
    assert id18_check_digit("11010519900307123") == "9"
    assert valid_id18("110105199003071239") and not valid_id18("110105199003071234")
    assert valid_id18("32010219880815108x")
    assert not valid_id18("990105199003071230")  # no such region
    assert valid_id15("110105900307123") and not valid_id15("110105901307123")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


# --- a generated record -------------------------------------------------------------------------------------------


def score(planting, profile: str) -> tuple[int, int, int, int]:
    """(planted, found, redactions, false alarms) for one profile, from the redacted record."""
    result = redact(planting.record, profile)
    by_segment: dict[int, list] = {}
    for r in result.redactions:
        index = segment_index(r.where)
        assert index is not None or r.kind == "name"
        if index is not None:
            by_segment.setdefault(index, []).append(r)
    planted = found_n = false = 0
    for index, rows in planting.planted.items():
        mine = [row for row in rows if row.profile == profile]
        texts = [r.text for r in by_segment.get(index, [])]
        planted += len(mine)
        found_n += sum(row.identifier in texts for row in mine)
        for row in mine:
            assert row.identifier not in result.record.transcript.segments[index].text
    planted_texts = {(i, row.identifier) for i, rows in planting.planted.items() for row in rows}
    total = sum(len(v) for v in by_segment.values())
    false = sum((i, r.text) not in planted_texts for i, rs in by_segment.items() for r in rs)
    for index, rows in planting.look_alikes.items():
        for row in rows:
            assert row.look_alike in result.record.transcript.segments[index].text, row
    return planted, found_n, total, false


@pytest.mark.parametrize("profile", [PUB, US])
def test_recall_and_precision_on_the_table_in_a_record(profile: str) -> None:
    rows = [row for row in PLANTED if row.profile == profile]
    looks = [row for row in LOOK_ALIKES if row.profile == profile]
    planted, found_n, total, false = score(build_record(rows, looks, parties=(), labels={}), profile)
    assert planted == len(rows) and found_n == planted  # recall 100%
    assert false == 0 and total == found_n  # precision 100% (the issue asks >= 95%)


def test_recall_and_precision_on_a_generated_set() -> None:
    planted_rows, looks = generated_rows(seed=16, count=300)
    addresses = [row for row in planted_rows if row.kind == "address"]
    assert any(zone in row.identifier for row in addresses for zone in ("科技园南区", "开发区", "工业园区", "片区"))
    for row in addresses:  # the kept part is the province to the district, never a zone after it
        assert [hit[3] for hit in find(row.text, PUB)] == [row.replacement], row
    for profile in (PUB, US):
        rows = [row for row in planted_rows if row.profile == profile]
        planting = build_record(rows, [row for row in looks if row.profile == profile], parties=(), labels={})
        planted, found_n, total, false = score(planting, profile)
        assert found_n == planted > 0
        assert (total - false) / total >= 0.95


# --- redact(): copies, ids, keep ----------------------------------------------------------------------------------


def planted_record():
    rows = [row for row in PLANTED if row.profile == PUB]
    return build_record(rows, LOOK_ALIKES, cause="离婚纠纷").record


def test_the_record_passed_in_is_not_changed() -> None:
    record = planted_record()
    before = copy.deepcopy(record)
    result = redact(record, PUB)
    assert record == before
    assert result.record is not record and result.record.transcript is not record.transcript
    assert all(a is not b for a, b in zip(result.record.transcript.segments, record.transcript.segments, strict=True))
    assert result.record.transcript.text != record.transcript.text


def test_words_are_dropped_only_where_the_text_changed() -> None:
    record = planted_record()
    for seg in record.transcript.segments:
        seg.words = [Word(seg.start, seg.end, seg.text)]
    result = redact(record, PUB)
    for old, new in zip(record.transcript.segments, result.record.transcript.segments, strict=True):
        assert (new.words == []) == (new.text != old.text)
        if new.words:
            assert new.words == old.words and new.words is not old.words


def test_ids_are_stable_and_say_where() -> None:
    record = planted_record()
    first = redact(record, PUB).redactions
    again = redact(copy.deepcopy(record), PUB).redactions
    assert [r.id for r in first] == [r.id for r in again]
    assert len({r.id for r in first}) == len(first)
    for r in first:
        assert r.id == f"{r.where}:{r.start}:{r.kind}:{found_tag(r.text)}"
        assert re.fullmatch(r"[0-9a-f]{6}", r.id.rsplit(":", 1)[1])
        if segment_index(r.where) is not None:
            seg = record.transcript.segments[segment_index(r.where)]
            assert seg.text[r.start : r.end] == r.text and r.segment_start == seg.start
        else:
            assert r.segment_start is None


def test_kept_ids_are_left_as_they_are() -> None:
    record = planted_record()
    everything = redact(record, PUB).redactions
    mobile = next(r for r in everything if r.kind == "mobile")
    result = redact(record, PUB, keep=[mobile.id, "s9999:0:mobile"])  # an unknown id is no error
    assert mobile.id not in {r.id for r in result.redactions}
    assert len(result.redactions) == len(everything) - 1
    index = int(mobile.where[1:])
    assert mobile.text in result.record.transcript.segments[index].text
    assert {r.id for r in redact(record, PUB).redactions} == {r.id for r in everything}  # untick survives a re-preview


def test_a_kept_id_keeps_nothing_once_another_text_sits_there() -> None:
    """Preview, then the record changes (another number at the same offset), then export with the old kept id:
    the id names what was found, so it matches nothing and the new number is redacted."""
    record = planted_record()
    mobile = next(r for r in redact(record, PUB).redactions if r.kind == "mobile" and r.text == "13812345678")
    index = int(mobile.where[1:])
    changed = copy.deepcopy(record)
    seg = changed.transcript.segments[index]
    seg.text = seg.text.replace("13812345678", "13987654321")
    result = redact(changed, PUB, keep=[mobile.id])
    again = next(r for r in result.redactions if r.where == mobile.where and r.start == mobile.start)
    assert again.text == "13987654321" and again.id != mobile.id
    assert "13987654321" not in result.record.transcript.segments[index].text
    assert mobile.id not in {r.id for r in result.redactions}  # an issuer refuses such a kept id by this


def test_none_changes_nothing() -> None:
    record = planted_record()
    result = redact(record, "none")
    assert result.redactions == []
    assert result.record == record and result.record is not record
    assert find("电话13812345678", "none") == []


def test_an_unknown_profile_is_refused_by_name() -> None:
    with pytest.raises(RedactionError, match="gdpr") as info:
        redact(planted_record(), "gdpr")
    assert all(p in str(info.value) for p in PROFILES)


# --- names --------------------------------------------------------------------------------------------------------


FAMILY_PARTIES = (
    Party("原告", "欧阳明", ("法定代理人王丽（系原告之母）", "李律师，北京某律师事务所律师")),
    Party("被告", "张三", ()),
    Party("第三人", "北京天成科技有限公司", ()),
)
FAMILY_LABELS = {
    "S1": SpeakerLabel("审判长", "赵刚"),
    "S2": SpeakerLabel("原告", "欧阳明"),
    "S3": SpeakerLabel("被告", "张三"),
    "S4": SpeakerLabel("原告委托诉讼代理人", "李强"),
}
DIALOGUE = [
    Planted("原告欧阳明，请陈述诉讼请求。", "", "", PUB),
    Planted("被告张 三对此有何意见？北京天成科技有限公司是否到庭？", "", "", PUB),
    Planted("审判长赵刚宣布休庭，代理人李强发言，王丽补充。", "", "", PUB),
]


def family_record(case_number: str = "（2024）京0105民初1234号", cause: str = "离婚纠纷", parties=FAMILY_PARTIES):
    return build_record(
        DIALOGUE, case_number=case_number, cause=cause, parties=parties, labels=FAMILY_LABELS, pair_every=0
    ).record


def test_family_case_names_become_surname_and_mou() -> None:
    result = redact(family_record(), PUB)
    record = result.record
    said = record.transcript.text
    assert "原告欧阳某，请陈述诉讼请求。" in said  # a compound surname kept whole
    assert "被告张某对此有何意见？北京天成科技有限公司是否到庭？" in said  # "张 三" spaced is found too
    assert "审判长赵刚宣布休庭，代理人李强发言，王某补充。" in said  # judge and lawyer keep their names
    assert [p.name for p in record.parties] == ["欧阳某", "张某", "北京天成科技有限公司"]
    assert record.parties[0].representatives == ("法定代理人王某（系原告之母）", "李律师，北京某律师事务所律师")
    assert {sid: label.name for sid, label in record.labels.items()} == {
        "S1": "赵刚",
        "S2": "欧阳某",
        "S3": "张某",
        "S4": "李强",
    }
    names = [r for r in result.redactions if r.kind == "name"]
    assert {r.where.split(":")[0] for r in names} >= {"party", "rep", "label"}
    assert any(r.where.startswith("s") for r in names)
    assert all("art. 8" in r.reason for r in names)


@pytest.mark.parametrize("cause", ["继承纠纷", "抚养费纠纷", "赡养纠纷", "收养关系纠纷", "监护权纠纷", "法定继承纠纷"])
def test_every_family_and_inheritance_cause_masks_the_parties(cause: str) -> None:
    record = redact(family_record(cause=cause), PUB).record
    assert record.parties[1].name == "张某"


def test_an_ordinary_civil_case_keeps_the_names() -> None:
    result = redact(family_record(cause="买卖合同纠纷"), PUB)
    assert [p.name for p in result.record.parties] == ["欧阳明", "张三", "北京天成科技有限公司"]
    assert [r for r in result.redactions if r.kind == "name"] == []


def test_a_minor_is_masked_in_any_case() -> None:
    parties = (Party("原告", "李小明（未成年）", ("法定代理人李大伟",)), Party("被告", "某某商贸有限公司"))
    record = redact(family_record(cause="生命权、身体权、健康权纠纷", parties=parties), PUB).record
    # art. 8: a minor and the minor's legal representative; the same surname twice is numbered (art. 9)
    assert record.parties[0].name == "李某1（未成年）"
    assert record.parties[0].representatives == ("法定代理人李某2",)
    assert record.parties[1].name == "某某商贸有限公司"


@pytest.mark.parametrize(
    "written", ["法定代理人王丽（系原告之母）", "王丽，法定代理人，系原告之母", "法定代理人：王丽"]
)
def test_a_legal_representative_is_read_however_written(written: str) -> None:
    parties = (Party("原告", "欧阳明", (written, "李律师")),)
    record = redact(family_record(parties=parties), PUB).record
    assert record.parties[0].representatives == (written.replace("王丽", "王某"), "李律师")


def test_a_criminal_case_masks_the_victim_not_the_defendant() -> None:
    parties = (
        Party("公诉机关", "上海市浦东新区人民检察院"),
        Party("被告人", "王五", ("辩护人刘律师",)),
        Party("被害人", "陈六"),
        Party("证人", "周七"),
    )
    record = redact(family_record("（2024）沪0115刑初5678号", "故意伤害罪", parties), PUB).record
    assert [p.name for p in record.parties] == ["上海市浦东新区人民检察院", "王五", "陈某", "周某"]


def test_a_victim_is_masked_even_without_a_case_number() -> None:
    record = redact(family_record("", "", (Party("被害人", "陈六"),)), PUB).record
    assert record.parties[0].name == "陈某"


def test_two_names_that_would_read_the_same_are_numbered() -> None:
    parties = (Party("原告", "张三"), Party("被告", "张四"))
    record = redact(family_record(cause="离婚纠纷", parties=parties), PUB).record
    assert [p.name for p in record.parties] == ["张某1", "张某2"]


def test_surname_mask() -> None:
    assert surname_mask("欧阳明") == "欧阳某"
    assert surname_mask("诸葛亮") == "诸葛某"
    assert surname_mask("王芳") == "王某"
    assert surname_mask("阿依古丽·买买提") == "阿某"
    assert surname_mask("John Smith") == "J"


def test_us_frcp_minors_from_the_roster_become_initials() -> None:
    parties = (
        Party("Plaintiff (minor)", "Jane Doe"),
        Party("Defendant", "Acme Corp"),
        Party("原告（未成年）", "Tom Lee"),
    )
    planting = build_record(
        [Planted("Jane Doe said Acme Corp and Tom Lee met.", "", "", US)], parties=parties, labels={}, pair_every=0
    )
    result = redact(planting.record, US)
    assert [p.name for p in result.record.parties] == ["J.D.", "Acme Corp", "T.L."]
    assert "J.D. said Acme Corp and T.L. met." in result.record.transcript.text
    assert {r.kind for r in result.redactions} == {"minor"}


def test_case_kind() -> None:
    assert case_kind("（2024）京0105民初1234号", "离婚纠纷") == "family"
    assert case_kind("（2024）京0105民初1234号", "买卖合同纠纷") == "civil"
    assert case_kind("(2023)最高法民终123号", "继承纠纷") == "family"
    assert case_kind("（2024）沪0115刑初5678号", "故意伤害罪") == "criminal"
    assert case_kind("（2024）京0105行初12号", "行政处罚") == "administrative"
    assert case_kind("（2024）京0105执345号", "借款合同纠纷") == "enforcement"
    assert case_kind("", "盗窃罪") == "criminal"
    assert case_kind("", "") == ""


def test_a_three_hour_record_is_redacted_quickly() -> None:
    """~3,000 segments of ~60 characters; the bench (bench/redact.py) measures it, here a generous bound only."""
    rows = [row for row in PLANTED if row.profile == PUB] * 30
    filler = [
        Planted("被告对原告提交的证据有何质证意见，对证据3的真实性没有异议，合同于2023年3月5日签订。", "", "", PUB)
    ]
    record = build_record([*rows, *filler * 1500], parties=FAMILY_PARTIES, labels=FAMILY_LABELS, pair_every=0).record
    assert len(record.transcript.segments) >= 3000
    started = time.perf_counter()
    result = redact(record, PUB)
    assert time.perf_counter() - started < 1.5
    assert len(result.redactions) >= len(rows)


# --- the appendix: correction requests and sign-off reasons ---------------------------------------------------------

MOBILE, ID_NUMBER = "13812345678", "110105199003071239"


def appendix_record():
    """A family case (its parties' names masked) whose appendix names a party and carries identifiers."""
    return dataclasses.replace(
        family_record(),
        state="locked",
        signoffs=(
            SignoffNote("approved", "zhangming", "2024-03-05T15:30:00"),
            SignoffNote("reopened", "zhangming", "2024-03-06T09:00:00", f"被告张三来电{MOBILE}要求更正"),
            SignoffNote("locked", "liuyang", "2024-03-06T16:00:00", "归档"),
        ),
        corrections=(
            CorrectionNote(
                1, "张三", "party", f"我的手机是{MOBILE}，记错了", "2024-03-08T09:00:00",
                ((5.0, 9.0, f"电话{MOBILE}", "电话13912345678"), (10.0, 14.0, f"身份证{ID_NUMBER}", "身份证号无误")),
                "rejected", "zhangming", "2024-03-08T14:00:00", f"与录音不符，原告欧阳明身份证{ID_NUMBER}已核对",
            ),
            CorrectionNote(
                2, "李强", "lawyer", "金额听写有误", "2024-03-09T09:00:00",
                ((20.0, 25.0, "货款十万元", "货款十五万元"),), "accepted", "zhangming", "2024-03-09T11:00:00",
            ),
        ),
    )  # fmt: skip


def test_the_appendix_is_redacted_too() -> None:
    record = appendix_record()
    result = redact(record, PUB)
    first, second = result.record.corrections
    assert first.requester == "张某"  # a party of a family case, masked as in the dialogue
    assert second.requester == "李强"  # a lawyer keeps the name, as in the dialogue
    assert first.reason == "我的手机是×××，记错了"
    assert first.changes == ((5.0, 9.0, "电话×××", "电话×××"), (10.0, 14.0, "身份证×××", "身份证号无误"))
    assert first.decision_reason == "与录音不符，原告欧阳某身份证×××已核对"
    assert second == record.corrections[1]
    assert result.record.signoffs[1].reason == "被告张某来电×××要求更正"
    assert result.record.signoffs[2] == record.signoffs[2] and result.record.signoffs[0] is record.signoffs[0]
    ids = {r.id for r in result.redactions}
    assert f"corr:1:0:before:2:mobile:{found_tag(MOBILE)}" in ids
    assert f"corr:1:0:proposed:2:mobile:{found_tag('13912345678')}" in ids
    assert f"corr:1:1:before:3:id_card:{found_tag(ID_NUMBER)}" in ids
    assert f"corr:1:requester:0:name:{found_tag('张三')}" in ids
    assert f"corr:1:decision:14:id_card:{found_tag(ID_NUMBER)}" in ids
    assert f"trail:1:reason:2:name:{found_tag('张三')}" in ids
    assert all(segment_index(r.where) is None for r in result.redactions if r.where.startswith(("corr:", "trail:")))
    assert segment_index("s12") == 12 and segment_index("trail:1:reason") is None
    before = next(r for r in result.redactions if r.where == "corr:1:0:before")
    assert before.segment_start == 5.0 and before.text == MOBILE  # the preview can point at the segment
    assert record.corrections[0].reason == f"我的手机是{MOBILE}，记错了"  # the record passed in is not changed
    kept = redact(record, PUB, keep=[before.id]).record
    assert kept.corrections[0].changes[0] == (5.0, 9.0, f"电话{MOBILE}", "电话×××")


def test_a_publication_export_has_no_identifier_left_in_its_appendix() -> None:
    data = render_docx(redact(appendix_record(), PUB).record)
    texts = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    appendix = "\n".join(texts[texts.index("补正记录") :])
    assert "第1号补正申请：申请人张某（当事人）" in appendix and "被告张某来电×××要求更正" in appendix
    assert "货款十五万元" in appendix  # what no profile removes stays
    everything = "\n".join(texts)
    assert not re.search(r"1[3-9][0-9]{9}|[0-9]{17}[0-9Xx]", everything), everything
    assert "张三" not in everything and "欧阳明" not in everything
    # without the profile the same appendix carries them: the test above is not empty
    plain = "\n".join(p.text for p in docx.Document(io.BytesIO(render_docx(appendix_record()))).paragraphs)
    assert MOBILE in plain and ID_NUMBER in plain


def test_a_roster_witness_no_party_list_names_is_masked_in_what_was_said() -> None:
    """The case's roster (issue 17) reaches the names' list: a witness on it is masked though no party names them."""
    parties = (Party("公诉机关", "上海市浦东新区人民检察院"), Party("被告人", "王五"))
    record = family_record("（2024）沪0115刑初5678号", "故意伤害罪", parties)
    said = "证人周七出庭作证。"
    record = dataclasses.replace(
        record,
        transcript=dataclasses.replace(
            record.transcript, segments=[dataclasses.replace(record.transcript.segments[0], text=said)]
        ),
    )
    assert "周七" in redact(record, PUB).record.transcript.text  # not on any list: nothing knows the name
    result = redact(dataclasses.replace(record, roster=(("证人", "周七"), ("翻译", "孙八"))), PUB)
    assert result.record.transcript.segments[0].text == "证人周某出庭作证。"
    assert [(r.text, r.replacement) for r in result.redactions if r.kind == "name"] == [("周七", "周某")]
    assert result.record.roster == (("证人", "周某"), ("翻译", "孙八"))  # an interpreter keeps the name
