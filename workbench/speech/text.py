"""Text after recognition: Simplified Chinese, inverse normalisation, hotword lists, scoring.

Inverse text normalisation (ITN) turns spoken-form Chinese numbers into the written form a court
record uses: dates (二〇二四年三月五日 → 2024年3月5日), money (一万二千五百元 → 12500元), times
(下午三点十五分 → 下午3点15分), percentages, law articles (第一百零二条 → 第102条) and case numbers
（二〇二四）京0105民初一二三四号 → （2024）京0105民初1234号. It is deliberately conservative: a lone
numeral before an ordinary measure word (三个人, 一审) stays as it was spoken. With ITN off, digits
that an engine wrote anyway (Whisper does) are spelled out, so the text is in spoken form throughout.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# --- Simplified Chinese -------------------------------------------------------------------------


@cache
def _t2s():  # opencc has no type hints
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


# --- hotwords -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hotword:
    term: str
    weight: float | None = None


def parse_hotwords(text: str) -> tuple[Hotword, ...]:
    """One term per line, an optional numeric weight after the last space; '#' starts a comment."""
    words: dict[str, Hotword] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        term, weight = line, None
        head, _, tail = line.rpartition(" ")
        if head:
            try:
                weight = float(tail)
                term = head.strip()
            except ValueError:
                pass
        words.setdefault(term, Hotword(term, weight))
    return tuple(words.values())


def read_hotwords(path: str | Path) -> tuple[Hotword, ...]:
    try:
        return parse_hotwords(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{Path(path).name}: the hotword list is not UTF-8 text") from e


def merge_hotwords(*lists: Iterable[Hotword]) -> tuple[Hotword, ...]:
    """One list from several, in the order given; a term in two lists keeps its first entry (and weight).

    Jobs merge theirs as (the job's own, the case's, the global list): the narrower list wins, and an
    engine with room for only some terms (Whisper's prompt) keeps the narrower ones.
    """
    words: dict[str, Hotword] = {}
    for hotwords in lists:
        for h in hotwords:
            words.setdefault(h.term, h)
    return tuple(words.values())


def format_hotwords(hotwords: tuple[Hotword, ...]) -> str:
    return "\n".join(h.term if h.weight is None else f"{h.term} {h.weight:g}" for h in hotwords)


# --- Chinese numbers ----------------------------------------------------------------------------

_DIGITS = {
    "零": 0, "〇": 0, "○": 0, "Ｏ": 0, "一": 1, "壹": 1, "幺": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_NUM_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)
_NUM = f"[{_NUM_CHARS}]+"
_DIGIT_ONLY = f"[{''.join(_DIGITS)}]"


def cn_to_int(text: str) -> int | None:
    """Parses 一千二百三十四, 十五, 两万零五, or a digit string 二〇二四; None if it is not a number."""
    if not text:
        return None
    if all(c in _DIGITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text)) if len(text) > 1 else _DIGITS[text]
    total, section, digit = 0, 0, None
    for i, c in enumerate(text):
        if c in _DIGITS:
            if digit is not None and _DIGITS[c] != 0 and text[i - 1] not in "零〇":
                return None  # two digits in a row inside a unit number: 一二百 is not a number
            digit = _DIGITS[c]
        elif c in _SMALL_UNITS:
            if digit is None and (i > 0 or c not in "十拾"):
                return None
            section += (1 if digit is None else digit) * _SMALL_UNITS[c]
            digit = None
        elif c in _BIG_UNITS:
            if digit is None and section == 0:
                return None
            section += digit or 0
            total = (total + section) * _BIG_UNITS[c] if _BIG_UNITS[c] > total else total + section * _BIG_UNITS[c]
            section, digit = 0, None
        else:
            return None
    # A trailing digit after a unit abbreviates the next lower unit: 一万五 = 15000, 三百五 = 350.
    if digit is not None and len(text) >= 2 and text[-2] in _SMALL_UNITS | _BIG_UNITS and text[-2] not in "十拾":
        unit = {**_SMALL_UNITS, **_BIG_UNITS}[text[-2]]
        digit *= unit // 10
    return total + section + (digit or 0)


def _num(text: str) -> str:
    value = cn_to_int(text)
    return text if value is None else str(value)


def _decimal(int_part: str, frac: str) -> str:
    whole = cn_to_int(int_part)
    if whole is None or not all(c in _DIGITS for c in frac):
        return f"{int_part}点{frac}"
    return f"{whole}." + "".join(str(_DIGITS[c]) for c in frac)


_MONEY_UNITS = "元|块|角|美元|港元|港币|欧元|英镑|日元"
_MEASURES = (
    "条|款|项|页|号|次|岁|周岁|年|个月|天|日|小时|分钟|秒|"
    "米|公里|平方米|公斤|千克|克|吨|斤|件|份|张|人|名|户|套|辆|台|股"
)
_TIME_PREFIX = "上午|下午|晚上|凌晨|中午|早上|傍晚|夜里"
_NOT_NUMBERS = ("一一", "三三两两", "一五一十", "七七八八", "千千万万", "万万", "九九")

_RULES: tuple[tuple[re.Pattern[str], object], ...] = (
    # Case numbers: （二〇二四）京0105民初一二三四号
    (
        re.compile(
            rf"([（(])({_DIGIT_ONLY}{{4}})([）)])([\u4e00-\u9fff]{{0,2}}[\dA-Za-z{_NUM_CHARS}]*?[\u4e00-\u9fff]{{1,4}}?)({_NUM})号"
        ),
        lambda m: f"{m[1]}{_num(m[2])}{m[3]}{_ascii_digits(m[4])}{_num(m[5])}号",
    ),
    # Dates: 二〇二四年三月五日, 三月五号, 二零二四年
    (
        re.compile(rf"({_DIGIT_ONLY}{{4}})年(?:({_NUM})月(?:({_NUM})[日号])?)?"),
        lambda m: f"{_num(m[1])}年" + (f"{_num(m[2])}月" if m[2] else "") + (f"{_num(m[3])}日" if m[3] else ""),
    ),
    (re.compile(rf"({_NUM})月({_NUM})([日号])"), lambda m: f"{_num(m[1])}月{_num(m[2])}{m[3]}"),
    # Times: 下午三点十五分, 十点半, 九点钟
    (re.compile(rf"({_NUM})点({_NUM})分"), lambda m: f"{_num(m[1])}点{_num(m[2])}分"),
    (re.compile(rf"({_NUM})点(半|钟)"), lambda m: f"{_num(m[1])}点{m[2]}"),
    (re.compile(rf"({_TIME_PREFIX})({_NUM})点"), lambda m: f"{m[1]}{_num(m[2])}点"),
    # Percentages: 百分之三十五, 百分之三点五
    (re.compile(rf"百分之({_NUM})点({_NUM})"), lambda m: _decimal(m[1], m[2]) + "%"),
    (re.compile(rf"百分之({_NUM})"), lambda m: f"{_num(m[1])}%"),
    # Decimals with a unit: 三点五万元, 一点五米
    (
        re.compile(rf"({_NUM})点({_DIGIT_ONLY}+)(?=[万亿]|{_MONEY_UNITS}|{_MEASURES})"),
        lambda m: _decimal(m[1], m[2]),
    ),
    # Law articles: 第一百零二条; other ordinals only from two numerals on (第十二次, but 第一被告)
    (re.compile(rf"第({_NUM})(?=条|款|项|页|号)"), lambda m: f"第{_num(m[1])}"),
    (re.compile(rf"第({_NUM})"), lambda m: f"第{_num(m[1])}" if len(m[1]) > 1 else m[0]),
    # Money: 一万二千五百元, 五百块, 十万美元
    (re.compile(rf"({_NUM})(?={_MONEY_UNITS})"), lambda m: _num(m[1])),
    # Any other number of two or more numerals before a measure word: 三十五岁, 一千二百平方米
    (re.compile(rf"({_NUM})(?={_MEASURES})"), lambda m: _num(m[1]) if len(m[1]) > 1 else m[1]),
)


def _ascii_digits(text: str) -> str:
    """Digit strings inside a case number's court code: 京零一零五民初 → 京0105民初."""
    return re.sub(f"{_DIGIT_ONLY}{{2,}}", lambda m: "".join(str(_DIGITS[c]) for c in m[0]), text)


def itn_zh(text: str) -> str:
    """Written-form numbers in Chinese text (see the module docstring for what is converted)."""
    protected: list[str] = []

    def protect(m: re.Match[str]) -> str:
        protected.append(m[0])
        return f"\x00{len(protected) - 1}\x00"

    idioms = "|".join(map(re.escape, _NOT_NUMBERS))
    text = re.sub(f"(?<![{_NUM_CHARS}])(?:{idioms})(?![{_NUM_CHARS}])", protect, text)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)  # type: ignore[arg-type]
    return re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m[1])], text)


_CN_DIGITS = "零一二三四五六七八九"


def int_to_cn(n: int) -> str:
    """12345 → 一万二千三百四十五 (spoken form)."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + int_to_cn(-n)

    def below_10000(v: int, leading: bool) -> str:
        out, zero = [], False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            d = v // unit % 10
            if d:
                if zero:
                    out.append("零")
                out.append(("" if (d == 1 and unit == 10 and leading and not out) else _CN_DIGITS[d]) + name)
                zero = False
            elif out:
                zero = True
        return "".join(out)

    parts, big = [], 0
    while n:
        n, rest = divmod(n, 10_000)
        if rest:
            chunk = below_10000(rest, n == 0) + ("", "万", "亿", "万亿")[big]
            if n and rest < 1000:
                chunk = "零" + chunk
            parts.append(chunk)
        big += 1
    return "".join(reversed(parts)).replace("零零", "零")


def tn_zh(text: str) -> str:
    """Spoken-form Chinese: digits written by an engine are spelled out (二〇二四年, 百分之十五)."""

    def year(m: re.Match[str]) -> str:
        return "".join(_CN_DIGITS[int(d)] for d in m[1]) + "年"

    def percent(m: re.Match[str]) -> str:
        return "百分之" + number(m[1])

    def number(raw: str) -> str:
        whole, _, frac = raw.partition(".")
        head = int_to_cn(int(whole)) if len(whole) <= 12 else "".join(_CN_DIGITS[int(d)] for d in whole)
        return head + ("点" + "".join(_CN_DIGITS[int(d)] for d in frac) if frac else "")

    text = re.sub(r"(\d{4})年", year, text)
    text = re.sub(r"(\d+(?:\.\d+)?)[%％]", percent, text)
    return re.sub(r"\d+(?:\.\d+)?", lambda m: number(m[0]), text)


def is_chinese(language: str | None) -> bool:
    return bool(language) and language.split("-")[0] in ("zh", "yue")


def finish(text: str, language: str | None, *, itn: bool) -> str:
    """The text step every engine's output goes through: Simplified Chinese, then ITN or its reverse."""
    if not is_chinese(language):
        return text
    text = to_simplified(text)
    return itn_zh(text) if itn else tn_zh(text)


# --- XML-safe text and scoring ------------------------------------------------------------------

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Removes the characters that XML 1.0 forbids (control characters, lone surrogates)."""
    return _XML_FORBIDDEN.sub("", text)


def _strip_punctuation(text: str) -> str:
    return "".join(c for c in text if not unicodedata.category(c).startswith(("P", "S", "Z", "C")))


def normalise_cer(text: str) -> str:
    """Mandarin scoring form: Simplified, no punctuation, no spaces."""
    return _strip_punctuation(to_simplified(text))


_EN_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()  # noqa: E501
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _en_number(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + ("" if n % 10 == 0 else " " + _EN_ONES[n % 10])
    if n < 1000:
        return _EN_ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _en_number(n % 100))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return _en_number(n // size) + " " + name + ("" if rest == 0 else " " + _en_number(rest))
    return str(n)


_EN_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "vs": "versus"}


def normalise_wer(text: str) -> list[str]:
    """English scoring form: lowercase words, punctuation removed, digits spelled out."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\d+", lambda m: " " + _en_number(int(m[0])) + " ", text)
    text = re.sub(r"[^\w\s']", " ", text).replace("'", "")
    return [_EN_ABBREVIATIONS.get(w, w) for w in text.split()]


def edit_distance(ref: list[str] | str, hyp: list[str] | str) -> int:
    """Levenshtein distance between two sequences (characters or words)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]
