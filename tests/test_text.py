"""The text step: Simplified Chinese, inverse normalisation and its reverse, hotword lists, scoring."""

from __future__ import annotations

import pytest

from workbench.speech import text


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("（二〇二四）京0105民初一二三四号", "（2024）京0105民初1234号"),
        ("（二〇二四）京零一零五民初一千二百三十四号", "（2024）京0105民初1234号"),
        ("二〇二四年三月五日上午九点开庭", "2024年3月5日上午9点开庭"),
        ("十一月二十日", "11月20日"),
        ("原告请求支付一万二千五百元", "原告请求支付12500元"),
        ("两千元", "2000元"),
        ("三点五万元", "3.5万元"),
        ("下午三点十五分", "下午3点15分"),
        ("十点半", "10点半"),
        ("百分之三十五", "35%"),
        ("依据第一百零二条第二款", "依据第102条第2款"),
        ("被告三十五岁", "被告35岁"),
        # left as spoken: lone numerals, idioms, court terms
        ("一个人一审", "一个人一审"),
        ("万一他不来", "万一他不来"),
        ("他们一起一一核对", "他们一起一一核对"),
        ("第一被告第一次", "第一被告第一次"),
        ("十分清楚", "十分清楚"),
    ],
)
def test_itn(spoken: str, written: str) -> None:
    assert text.itn_zh(spoken) == written


@pytest.mark.parametrize("n", [0, 7, 10, 15, 20, 105, 1000, 1005, 10_010, 12_345, 100_000_000, 123_456_789])
def test_numbers_round_trip(n: int) -> None:
    assert text.cn_to_int(text.int_to_cn(n)) == n


def test_tn_spells_out_digits() -> None:
    assert text.tn_zh("2024年3月5日，支付12500元，占15%，3.5万元") == (
        "二零二四年三月五日，支付一万二千五百元，占百分之十五，三点五万元"
    )


def test_finish_converts_script_and_applies_itn_only_to_chinese() -> None:
    assert text.finish("廣州市房地產", "zh", itn=True) == "广州市房地产"
    assert text.finish("二〇二四年", "zh", itn=True) == "2024年"
    assert text.finish("2024年", "zh", itn=False) == "二零二四年"
    assert text.finish("In 2024 we met.", "en", itn=False) == "In 2024 we met."


def test_hotword_lists() -> None:
    parsed = text.parse_hotwords("张三\n原告 2.5\n# a comment\nNew York 1\n\n张三\n")
    assert parsed == (text.Hotword("张三"), text.Hotword("原告", 2.5), text.Hotword("New York", 1.0))
    assert text.parse_hotwords(text.format_hotwords(parsed)) == parsed


def test_scoring_forms() -> None:
    assert text.normalise_cer("甚至出現 交易，幾乎停滯！") == "甚至出现交易几乎停滞"
    assert text.normalise_wer("And so, Mr. Smith: 21 dogs") == ["and", "so", "mister", "smith", "twenty", "one", "dogs"]
    assert text.edit_distance("kitten", "sitting") == 3
    assert text.edit_distance(["a", "b"], ["a", "b"]) == 0


def test_xml_safe() -> None:
    assert text.xml_safe("a\x00b\x07c\td\ne\ufffe😀") == "abc\td\ne😀"
