"""Redaction profiles for exports: what a record shared or published must not show. The stored text never changes.

`redact(record, profile)` returns a new `HearingRecord` with the identifiers and names replaced, in the dialogue,
the roster and the appendix (correction requests, sign-off reasons), and the list of what it replaced. Each has a
stable id, `<where>:<start>:<kind>:<tag>` (`s3:12:mobile:1a2b3c`; the tag is a short hash of the found text), so a
clerk who unticks a false one in the preview keeps it unticked when the preview is made again and passes it back
as `keep`; once the record changed and another text sits there, the kept id matches nothing. `find(text, profile)`
is the same on one text.

Profiles:

- `publication`: the SPC rules on publishing judgments online (法释〔2016〕19号, 最高人民法院关于人民法院在互联网
  公布裁判文书的规定). Art. 8-9: names of the parties (and their legal representatives) in marriage, family and
  inheritance cases, of criminal victims, witnesses and experts, and of any minor, become surname + 某 (欧阳某;
  a foreign or minority name keeps its first character, a Latin name its first letter; two names that would read
  the same get 1, 2, ...). Organisations keep their names. Art. 10-11: ID card numbers (18 digits with a valid
  GB 11643 check digit, 15 digits with a valid date), mobile and landline numbers, bank card numbers (Luhn),
  e-mail addresses and licence plates become ×××; an address is found whole and keeps its province, city and
  county or district (art. 11 keeps 住所地所属县、区): 北京市朝阳区建国路88号1502室 -> 北京市朝阳区×××; only real
  divisions, the first ones, are kept (深圳市南山区科技园南区科苑路10号 -> 深圳市南山区×××: a 园区, 小区 or 开发区
  after the district goes with the detail).
- `us-frcp`: FRCP 5.2(a): SSNs and TINs and financial account numbers to the last four digits, dates of birth to
  the year, minors to their initials. Phone numbers are no 5.2 item: a mobile or landline is left alone, even next
  to the word "account".
- `none`: nothing.

Case numbers, statute articles, sums of money, dates, times, percentages, page and exhibit numbers are never
touched: each detector accepts only its own shape and check (a wrong checksum, a Luhn failure, a number followed
by 元 or named as an order or invoice number is not an identifier). Full-width digits, full-width hyphens and
ideographic spaces are read as their ASCII forms (the text is normalised character for character, so offsets
stay those of the original).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from workbench.speech.transcript import CorrectionNote, HearingRecord, Party, Segment, SpeakerLabel

PROFILES = ("none", "publication", "us-frcp")
CROSS = "×××"

# A hit in one text: (start, end, kind, replacement, reason).
Hit = tuple[int, int, str, str, str]


@dataclass(frozen=True, slots=True)
class Redaction:
    """One replacement an export makes, as the preview lists it."""

    id: str  # stable for the same record: f"{where}:{start}:{kind}:{found_tag(text)}"
    kind: str  # id_card, mobile, landline, bank_card, email, plate, address, name, ssn, account, birth_date, minor
    text: str  # what was found
    replacement: str  # what the export shows
    reason: str  # in words, Chinese with English in brackets
    # "s<segment index>" | "label:S1" | "party:<i>" | "rep:<i>:<j>" | the appendix: "corr:<number>:requester",
    # "corr:<number>:reason", "corr:<number>:decision", "corr:<number>:<k>:before" | ":proposed" (the k-th change),
    # "trail:<i>:reason" (the i-th sign-off step); `segment_index(where)` reads the dialogue's form
    where: str
    start: int  # in that text
    end: int
    segment_start: float | None  # seconds, for the preview; None outside the dialogue


@dataclass(frozen=True)
class RedactionResult:
    record: HearingRecord  # a new record; the one passed in is not changed
    redactions: list[Redaction]  # the replacements made (those in `keep` are not among them)


class RedactionError(ValueError):
    pass


# --- normalising: one character for one, so that an offset in the normal form is one in the original -----------

_DASHES = "－‐‑‒–﹣−"  # full-width hyphen, hyphen, non-breaking hyphen, figure dash, en dash, small hyphen, minus
_SPACES = "\u3000\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f"
_DOTS = "・•‧･∙"  # the middle dots a licence plate or a minority name is written with
_NORMAL = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **{chr(0xFF21 + i): chr(ord("A") + i) for i in range(26)},
        **{chr(0xFF41 + i): chr(ord("a") + i) for i in range(26)},
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_SPACES, " "),
        **dict.fromkeys(_DOTS, "·"),
        "＋": "+",
        "（": "(",
        "）": ")",
        "＠": "@",
        "．": ".",
        "／": "/",
        "：": ":",
        "＃": "#",
    }
)


_NEEDS_NORMAL = re.compile("[" + re.escape("".join(chr(c) for c in _NORMAL)) + "]")


def normalise(text: str) -> str:
    """Full-width digits, letters, hyphens and spaces as ASCII; the same length as `text`."""
    return text.translate(_NORMAL) if _NEEDS_NORMAL.search(text) else text  # most texts have none: skip the copy


# --- validators -------------------------------------------------------------------------------------------------

# GB/T 2260 province-level codes: the first two digits of an ID number.
_REGIONS = frozenset(
    (
        "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91"
    ).split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id18_check_digit(first17: str) -> str:
    """GB 11643-1999: the 18th character of an ID number from its first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _valid_birth(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1880, 1, 1) <= born <= date.today()


def valid_id18(number: str) -> bool:
    n = number.upper()
    return (
        len(n) == 18
        and n[:17].isdigit()
        and n[:2] in _REGIONS
        and _valid_birth(int(n[6:10]), int(n[10:12]), int(n[12:14]))
        and id18_check_digit(n[:17]) == n[17]
    )


def valid_id15(number: str) -> bool:
    """The 15-digit IDs issued before 1999: region, YYMMDD of a 19xx birth, three digits; no check digit."""
    return (
        len(number) == 15
        and number.isdigit()
        and number[:2] in _REGIONS
        and _valid_birth(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    )


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Mobile number blocks in use (MIIT): 13x, 145-149, 150-153, 155-159, 162, 165-167, 170-178, 18x, 19x.
_MOBILE_BLOCK = re.compile(r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-9])")


def _digits(text: str) -> str:
    return re.sub(r"[^0-9Xx]", "", text)


def _last4(found: str) -> str:
    """Every digit but the last four as X, separators kept: 'XXXX XXXX XXXX 1234'."""
    keep_from = [i for i, ch in enumerate(found) if ch.isdigit()][-4]
    return "".join("X" if ch.isdigit() and i < keep_from else ch for i, ch in enumerate(found))


# --- numbers: a run of digits with single spaces or hyphens inside, tried whole and then in parts ---------------


@dataclass(frozen=True)
class NumberKind:
    """One kind of identifier written in digits: its shape (matched whole), its check, its replacement."""

    kind: str
    reason: str
    shape: re.Pattern[str]
    check: Callable[[str, str, str], bool]  # (digits, candidate, text before it) -> is one
    replace: Callable[[str], str]
    tail: re.Pattern[str] | None = None  # what the identifier may go on with after the digits (an extension)


def _cross(_found: str) -> str:
    return CROSS


def _is_id18(digits: str, _c: str, _b: str) -> bool:
    return valid_id18(digits)


def _is_id15(digits: str, _c: str, _b: str) -> bool:
    return valid_id15(digits)


def _is_mobile(digits: str, _c: str, _b: str) -> bool:
    national = digits[-11:]
    return len(national) == 11 and _MOBILE_BLOCK.match(national) is not None


def _valid_landline(digits: str) -> bool:
    if digits[1] in "12":  # 010 and 020-029: a 3-digit area code, 8-digit local numbers
        return (digits[:3] == "010" or digits[1] == "2") and len(digits) == 11
    return digits[1] in "3456789" and len(digits) in (11, 12)  # 03xx-09xx: 7 or 8 digits


def _is_landline(digits: str, candidate: str, _b: str) -> bool:
    if candidate.startswith(("+", "00")):  # +86 10 12345678: the area code without its 0
        digits = "0" + digits.removeprefix("0086").removeprefix("86").removeprefix("0")
    if _valid_landline(digits):
        return True
    extension = re.fullmatch(r"(.+)-[0-9]{1,6}", candidate)  # 0571-8765432-123
    return extension is not None and _valid_landline(_digits(extension.group(1)))


def _looks_like_id18(digits: str) -> bool:
    """Region and birth date of an ID number: with a wrong check digit it is a mistyped ID, not a card."""
    return (
        len(digits) == 18
        and digits[:2] in _REGIONS
        and _valid_birth(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    )


def _is_bank_card(digits: str, _c: str, _b: str) -> bool:
    return 16 <= len(digits) <= 19 and digits[0] in "345689" and luhn_valid(digits) and not _looks_like_id18(digits)


_SSN_CONTEXT = re.compile(r"(?i)(?:ssn|social security|\btin\b|\bitin\b|taxpayer|tax id|ein\b|employer identification)")
# Card numbers are found by their Luhn check alone (a card number failing it is left alone); other accounts
# need a word for an account before them.
_ACCOUNT_CONTEXT = re.compile(r"(?i)(?:account|acct|a/c|iban|账号|账户|帐号|帐户)")
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}")
_PHONE_SHAPE = re.compile(r"\(?[0-9]{3}\)?[ -]?[0-9]{3}-[0-9]{4}")


_ABBREVIATION = re.compile(r"(?i)\b(?:no|nos|acct|tel|mr|mrs|ms|dr|st|jr|sr|inc|co|corp|ltd|u\.s|d\.o\.b)\.")
_SENTENCE_END = re.compile(r"[。；;!?！？\n]|\.(?=\s|[A-Z\u4e00-\u9fff])")


def _keyword_at(before: str, pattern: re.Pattern[str], reach: int = 40) -> int:
    """Where the last keyword stands in the same sentence, at most `reach` characters before the number; -1: none."""
    near = _ABBREVIATION.sub(lambda m: m.group()[:-1] + " ", before[-reach:])  # "no. 123": no sentence end
    window = _SENTENCE_END.split(near)[-1]
    last = -1
    for m in pattern.finditer(window):
        last = m.start() + len(near) - len(window)
    return last


def _context(before: str, pattern: re.Pattern[str], reach: int = 40) -> bool:
    return _keyword_at(before, pattern, reach) >= 0


def _is_ssn(digits: str, candidate: str, before: str) -> bool:
    if len(digits) != 9 or digits[:3] in ("000", "666") or digits[3:5] == "00" or digits[5:] == "0000":
        return False
    if "-" in candidate or " " in candidate:
        return True
    # nine digits alone: an SSN only where "SSN" (not "account") is the nearer word before them
    return _keyword_at(before, _SSN_CONTEXT) > _keyword_at(before, _ACCOUNT_CONTEXT)


def _is_ein(digits: str, _c: str, before: str) -> bool:
    return len(digits) == 9 and _context(before, _SSN_CONTEXT)


_LANDLINE_SHAPE = re.compile(
    r"(?:\(0[0-9]{2,3}\)|0[0-9]{2,3}|(?:\+|00)86[ -]?(?:\(0?[1-9][0-9]{1,2}\)|0?[1-9][0-9]{1,2}))"
    r"[ -]?[0-9]{3,4}[ -]?[0-9]{4}(?:-[0-9]{1,6})?"
)


_PHONE_CONTEXT = re.compile(r"(?i)(?:phone|\btel\b|\bcall|reach|contact|fax|电话|座机|手机|微信|联系|传真)")


def _is_phone(digits: str, candidate: str, before: str) -> bool:
    """A phone number, not an account: a Chinese mobile (86 or 0086 in front or not, any spacing), a landline
    written with its area code set apart (010-12345678) or after a word for a phone nearer than one for an account
    (账户预留电话053183401738), a US number (555-123-4567). FRCP 5.2 leaves phones alone."""
    national = digits
    for prefix in ("0086", "86"):
        if len(national) == 11 + len(prefix) and national.startswith(prefix):
            national = national[len(prefix) :]
    if len(national) == 11 and _MOBILE_BLOCK.match(national):
        return True
    if _PHONE_SHAPE.fullmatch(candidate):
        return True
    if _LANDLINE_SHAPE.fullmatch(candidate) is None or not _is_landline(digits, candidate, ""):
        return False
    set_apart = re.search(r"[ ()+-]", candidate) is not None
    return set_apart or _keyword_at(before, _PHONE_CONTEXT) > _keyword_at(before, _ACCOUNT_CONTEXT)


def _is_card_account(digits: str, candidate: str, before: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and digits[0] in "345689"
        and luhn_valid(digits)
        and not _is_phone(digits, candidate, before)
    )


def _is_context_account(digits: str, candidate: str, before: str) -> bool:
    if _DATE_SHAPE.fullmatch(candidate) or _is_phone(digits, candidate, before):
        return False
    return 8 <= len(digits) <= 17 and _context(before, _ACCOUNT_CONTEXT)


_SEP = r"[ -]?"
PHONE_LEFT_ALONE = "phone"  # a kind found only to be left alone: its stretch of digits is no one's identifier
NUMBER_KINDS: dict[str, tuple[NumberKind, ...]] = {
    "publication": (
        NumberKind(
            "id_card",
            "身份证号，校验位正确 (ID card number, GB 11643 check digit valid)",
            re.compile(rf"(?:[0-9]{_SEP}){{17}}[0-9Xx]"),
            _is_id18,
            _cross,
        ),
        NumberKind(
            "id_card",
            "15位旧身份证号，出生日期有效 (old 15-digit ID card number, birth date valid)",
            re.compile(rf"(?:[0-9]{_SEP}){{14}}[0-9]"),
            _is_id15,
            _cross,
        ),
        NumberKind(
            "mobile",
            "手机号码 (mobile phone number)",
            re.compile(rf"(?:(?:\+|00)86{_SEP}|\(\+?86\){_SEP})?1[0-9]{{2}}(?:{_SEP}[0-9]){{8}}"),
            _is_mobile,
            _cross,
        ),
        NumberKind(
            "landline",
            "固定电话号码 (landline phone number)",
            _LANDLINE_SHAPE,
            _is_landline,
            _cross,
            re.compile(r" ?(?:转|分机|ext\.? ?|x|#)[0-9]{1,6}(?![0-9])"),
        ),
        NumberKind(
            "bank_card",
            "银行卡号，通过 Luhn 校验 (bank card number, Luhn check passed)",
            re.compile(rf"(?:[0-9]{_SEP}){{15,18}}[0-9]"),
            _is_bank_card,
            _cross,
        ),
    ),
    "us-frcp": (
        # FRCP 5.2(a) lists no phone numbers: a phone is recognised first, whole, only so that no part of it is
        # taken for an account number ("账户预留手机 13912345678", "account ... call 010-12345678").
        NumberKind(
            PHONE_LEFT_ALONE,
            "电话号码，FRCP 5.2 不要求隐去 (phone number: not an FRCP 5.2(a) item, left as it is)",
            re.compile(r"[0-9 ()+-]+"),
            _is_phone,
            lambda found: found,
        ),
        NumberKind(
            "ssn",
            "社会安全号/纳税人识别号，仅留后四位 (SSN or TIN: last four digits only, FRCP 5.2(a)(1))",
            re.compile(r"[0-9]{3}([ -]?)[0-9]{2}\1[0-9]{4}"),
            _is_ssn,
            lambda found: "XXX-XX-" + _digits(found)[-4:],
        ),
        NumberKind(
            "ssn",
            "雇主识别号，仅留后四位 (EIN: last four digits only, FRCP 5.2(a)(1))",
            re.compile(r"[0-9]{2}-[0-9]{7}"),
            _is_ein,
            lambda found: "XX-XXX" + _digits(found)[-4:],
        ),
        NumberKind(
            "account",
            "银行卡号，仅留后四位 (card number: last four digits only, FRCP 5.2(a)(4))",
            re.compile(rf"(?:[0-9]{_SEP}){{12,18}}[0-9]"),
            _is_card_account,
            _last4,
        ),
        NumberKind(
            "account",
            "金融账户号，仅留后四位 (financial account number: last four digits only, FRCP 5.2(a)(4))",
            re.compile(rf"(?:[0-9]{_SEP}){{7,16}}[0-9]"),
            _is_context_account,
            _last4,
        ),
    ),
}

# A run of digits as a person would write a number: single spaces or hyphens inside, "+86" or "(0755)" in front,
# an X as an ID number's last character. Not preceded by a digit or a decimal point (3.1415926535: no run at 1415).
_NUMBER_RUN = re.compile(r"(?<![0-9])(?<![0-9]\.)(?:\+|\(\+?)?[0-9]+(?:(?:[ -]|\)[ -]?)[0-9]+)*(?:[Xx](?![A-Za-z]))?")
_CHUNK = re.compile(r"[^ -]+")
# A number followed by a unit of money or a percentage, or after a currency sign, is a sum, never an identifier.
_MONEY_AFTER = re.compile(r"\s*(?:元|圆|万|亿|块|角|美元|港元|欧元|%|‰|股|倍)")
_MONEY_BEFORE = re.compile(r"(?:¥|￥|\$|€|£|人民币|RMB|USD|CNY|HKD)\s*$")
# A number named as a serial of a thing (订单号02024030512) is none of a person's numbers.
_SERIAL_BEFORE = re.compile(
    r"(?:订单|流水|单|批|货|型|序列|发票|合同|快递单|运单|快递|物流|批次|编)号(?:码|为|是)?\s*[:：]?\s*$"
)
_MAX_CHUNKS = 8  # a number is at most this many groups ("+86 138 1234 5678": 4); longer runs are tried in windows
_MIN_DIGITS = 8  # the shortest identifier in digits (an account number); shorter runs (2024, 120000) are skipped
_LONG_NUMBER = re.compile(r"[0-9](?:[ ()+-]?[0-9]){7}")  # a text without 8 digits in a row has none: skip it


def _number_hits(norm: str, kinds: tuple[NumberKind, ...]) -> Iterator[Hit]:
    if not kinds or not _LONG_NUMBER.search(norm):
        return
    for run in _NUMBER_RUN.finditer(norm):
        if run.end() - run.start() < _MIN_DIGITS:
            continue
        chunks = [(m.start() + run.start(), m.end() + run.start()) for m in _CHUNK.finditer(run.group())]
        yield from _split_run(norm, chunks, kinds)


def _split_run(norm: str, chunks: list[tuple[int, int]], kinds: tuple[NumberKind, ...]) -> Iterator[Hit]:
    """The longest stretch of whole chunks that is an identifier, then the same left and right of it.

    A run is cut only next to a chunk of 7 or more characters ("6222021234567890128 13812345678": two numbers);
    a number written in short groups ("6217 0001 2345 6789 010") is one number, tried whole, so a card failing
    Luhn does not become a landline in its middle."""
    n = len(chunks)

    def may_cut(left: int) -> bool:  # between chunks[left] and chunks[left + 1]
        return max(chunks[left][1] - chunks[left][0], chunks[left + 1][1] - chunks[left + 1][0]) >= 7

    for width in range(min(n, _MAX_CHUNKS), 0, -1):
        for first in range(n - width + 1):
            last = first + width - 1
            if (first > 0 and not may_cut(first - 1)) or (last < n - 1 and not may_cut(last)):
                continue
            start, end = chunks[first][0], chunks[last][1]
            hit = _classify(norm, start, end, kinds)
            if hit is not None:
                yield from _split_run(norm, chunks[:first], kinds)
                if hit[2] != PHONE_LEFT_ALONE:
                    yield hit
                yield from _split_run(norm, chunks[last + 1 :], kinds)
                return


def _classify(norm: str, start: int, end: int, kinds: tuple[NumberKind, ...]) -> Hit | None:
    candidate = norm[start:end]
    if _MONEY_AFTER.match(norm, end) or _MONEY_BEFORE.search(norm[max(0, start - 6) : start]):
        return None
    digits = _digits(candidate)
    before = norm[max(0, start - 60) : start]
    serial = _SERIAL_BEFORE.search(before[-8:]) is not None
    for kind in kinds:
        if serial and kind.kind != "id_card":  # an order or invoice number is no phone; an ID checksum still counts
            continue
        if kind.shape.fullmatch(candidate) and kind.check(digits, candidate, before):
            more = kind.tail.match(norm, end) if kind.tail else None
            return (start, more.end() if more else end, kind.kind, kind.replace(candidate), kind.reason)
    return None


# --- e-mail, licence plates, addresses, dates of birth, minors marked in the text --------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z])"
)
EMAIL_REASON = "电子邮箱 (e-mail address)"


def _email_hits(norm: str) -> Iterator[Hit]:
    if "@" not in norm:
        return
    for m in _EMAIL.finditer(norm):
        yield (m.start(), m.end(), "email", CROSS, EMAIL_REASON)


_PROVINCE_CHARS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Za-hj-np-z"  # plate letters: no I or O
_PLATE = re.compile(
    rf"(?<![A-Za-z0-9])(?:[{_PROVINCE_CHARS}][ ·]?[{_L}][ ·-]?(?P<tail>[{_L}0-9]{{4}}[警学挂港澳领]|[{_L}0-9]{{5,6}})"
    rf"|使[0-9]{{6}}|(?<![0-9])[0-9]{{6}}使)(?![A-Za-z0-9])"
)
PLATE_REASON = "机动车号牌 (licence plate number)"


def _valid_plate_tail(tail: str | None) -> bool:
    if tail is None:  # an embassy plate (使)
        return True
    t = tail.upper()
    if len(t) == 6:  # new energy: D/F (and the other letters now issued) then 5, or 5 digits then D/F
        return re.fullmatch(r"[A-HJ-K][A-HJ-NP-Z0-9][0-9]{4}|[0-9]{5}[DF]", t) is not None
    if t[-1] in "警学挂港澳领":
        return sum(ch.isdigit() for ch in t[:-1]) >= 3
    return sum(ch.isalpha() for ch in t) <= 3 and sum(ch.isdigit() for ch in t) >= 2


_PLATE_START = re.compile(rf"[{_PROVINCE_CHARS}][ ·]?[{_L}]|使")


def _plate_hits(norm: str) -> Iterator[Hit]:
    if not _PLATE_START.search(norm):
        return
    for m in _PLATE.finditer(norm):
        if _valid_plate_tail(m.group("tail")):
            yield (m.start(), m.end(), "plate", CROSS, PLATE_REASON)


# An address's detailed part ends with a house number: 路/街/巷/道/弄/村/小区... then digits and 号 (or 栋, 弄);
# an estate's part may stand between (望京小区南区5号楼, 花园二期3栋).
_ADDRESS_ANCHOR = re.compile(
    r"(?:大道|大街|胡同|(?:小区|花园|公寓|家园|新村|社区|苑)(?:[东南西北中一二三四五六七八九十]{1,2}[区期])?"
    r"|大厦|广场|路|街|巷|道|弄|村)"
    r"[甲乙丙丁]?[0-9]+(?:-[0-9]+)?(?P<unit>号院|号楼|号|弄|栋|幢)"
)
# ... then building, unit, floor and room: 院3号楼2单元1502室, 华星时代广场A座1203室.
_ADDRESS_DETAIL = re.compile(
    r"(?:[\u4e00-\u9fffA-Za-z0-9]{0,10}?(?:[0-9A-Za-z]+(?:号楼|号院|栋|幢|座|单元|层|楼|室|号|户)"
    r"|[\u4e00-\u9fff](?:大厦|中心|广场|大楼|公寓|花园|小区|家园|商城|写字楼)(?![\u4e00-\u9fff])))*"
    r"(?:(?:(?<=单元)|(?<=号楼)|(?<=[栋幢座层]))[0-9]{2,5}(?![0-9年月日时点元万号]))?"  # 2单元1502: a room, no 室
)
# Where a road's name stops on the way back: an administrative division that art. 11 keeps, or the word before.
_ADMIN_END = "省市区县旗盟"  # not 州: 杭州市, 广州市 (an 自治州 is read as one name)
_TOWN_END = "镇乡"
_NAME_STOP = _ADMIN_END + _TOWN_END + "住址在于至往到地是为的:,，、。 "
_ROAD_NAME_MAX = 12
ADDRESS_REASON = "详细住址，保留至县、区 (detailed address below the county or district)"


def _is_place_char(ch: str) -> bool:
    return ("\u4e00" <= ch <= "\u9fff" or (ch.isascii() and ch.isalnum())) and ch not in _NAME_STOP


def _walk_back(norm: str, i: int) -> int:
    """The start of the place name that ends just before index i."""
    start = i
    while start > 0 and i - start < _ROAD_NAME_MAX and _is_place_char(norm[start - 1]):
        start -= 1
    return start


# A village has no house number often: 临泉县城关镇李庄村3组. After a county, a town, then the village.
_VILLAGE = re.compile(
    r"(?<=[县区市])(?:(?![省市区县])[\u4e00-\u9fff]){1,5}?[镇乡][\u4e00-\u9fff]{1,5}?村"
    r"(?:[0-9一二三四五六七八九十]+(?:组|队))?(?:[0-9]+号)?"
)


def _address_hits(norm: str) -> Iterator[Hit]:
    for m in _VILLAGE.finditer(norm):
        divisions, kept = _divisions(norm, m.start())
        yield (divisions, m.end(), "address", norm[divisions:kept] + CROSS, ADDRESS_REASON)
    for m in _ADDRESS_ANCHOR.finditer(norm):
        start = _walk_back(norm, m.start())
        if start == m.start():
            continue  # 区路3号: no name
        # A town (镇, 乡, 街道) is below the county: it goes with the detail.
        if start > 0 and norm[start - 1] in _TOWN_END:
            start = _walk_back(norm, start - 1)
        detail = _ADDRESS_DETAIL.match(norm, m.end())
        end = detail.end() if detail else m.end()
        has_prefix = start > 0 and norm[start - 1] in _NAME_STOP and norm[start - 1] not in ",，、。 "
        if not (has_prefix or end > m.end() or m.group("unit") in ("号院", "号楼", "栋", "幢")):
            continue  # "知道3号" is not an address: no division, no word like 住 before it, no room after it
        # The whole address is the find; its province, city and county or district stay in the replacement.
        divisions, kept = _divisions(norm, start)
        yield (divisions, end, "address", norm[divisions:kept] + CROSS, ADDRESS_REASON)


_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 "
    "云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
).split()
_ROLE_BEFORE = re.compile(r"(?:原告|被告|第三人|证人|申请人|被申请人|上诉人|被上诉人|当事人)")


# One administrative unit of an address's prefix, its suffix in a group: 北京市, 内蒙古自治区, 恩施土家族苗族自治州.
# A plain 州 is no suffix (杭州市 is one unit); the longer suffixes come first so 自治区 is not read as 自治 + 区.
_UNIT = re.compile(
    r"(?:市中|[^省市区县旗盟]{1,12}?)(特别行政区|自治区|自治州|自治县|自治旗|地区|新区|省|市|区|县|旗|盟)"
)
_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
# Names ending in 区 that are no administrative district: parks, estates, zones, campuses, a park's south part.
_NOT_DIVISION = re.compile(
    r"(?:园|小|片|校|社|街|厂|景|营|院|开发|高新|保税|工业|商务|功能|示范|试验|实验|度假|风景|产业|科技|生活|居住"
    r"|[园城苑庭湾港][东南西北中]|[一二三四五六七八九十0-9]期[东南西北中]?)区$"
)


def _unit_level(name: str, suffix: str, level: int) -> int:
    """0 province, 1 prefecture, 2 county for one unit, given the level of the unit before it (-1: none)."""
    if suffix in ("省", "自治区", "特别行政区") or (suffix == "市" and name.startswith(_MUNICIPALITIES)):
        return 0
    if suffix in ("自治州", "地区", "盟") or (suffix == "市" and level < 1):
        return 1
    return 2  # 县, 区, 旗, 新区, and a county-level 市 after a prefecture


def _divisions(norm: str, start: int) -> tuple[int, int]:
    """Where the divisions art. 11 keeps begin and end, before an address's detail that starts at `start`:
    北京市朝阳区 before 建国路88号. Only real units count, the first ones of the address, each below the one
    before it and none below a county or district: in 深圳市南山区科技园南区科苑路10号 the kept part is
    深圳市南山区 and 科技园南区 goes with the detail (a 小区, 开发区 or 工业园区 there too)."""
    at = start
    for _ in range(6):  # province, city, county or district, and the odd 自治州 or 地区 between
        if at == 0 or norm[at - 1] not in _ADMIN_END:
            break
        if at >= 3 and norm.startswith("市中区", at - 3):  # 济南市市中区: a district named 市中
            at -= 3
            continue
        end = at - 2 if at >= 2 and norm.startswith("地区", at - 2) else at - 1  # 地 stops a road's name, not this
        name = _walk_back(norm, end)
        if name == end:
            break
        at = name
    prefix = norm[at:start]
    # what the walk took along before the first division: "原告北京市" -> "北京市"
    first = min((i for i in (prefix.find(p) for p in _PROVINCES) if i >= 0), default=-1)
    if first > 0:
        at += first
    else:
        role = _ROLE_BEFORE.match(prefix)
        at += role.end() if role else 0
    kept, level = at, -1
    while kept < start and level < 2:
        unit = _UNIT.match(norm, kept, start)
        if unit is None or _NOT_DIVISION.search(unit.group()):
            break
        next_level = _unit_level(unit.group()[: -len(unit.group(1))], unit.group(1), level)
        if next_level <= level:
            break
        kept, level = unit.end(), next_level
    return at, kept


_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?<![0-9])(?=[0-9A-S])(?:"  # the lookahead: fail fast where no date can start
    r"(?P<y1>(?:19|20)[0-9]{2})[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12][0-9]|3[01])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])[-/.](?:0?[1-9]|[12][0-9]|3[01])[-/.](?P<y2>(?:19|20)[0-9]{2})"  # US or European
    rf"|{_MONTH} (?:0?[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?,? (?P<y3>(?:19|20)[0-9]{{2}})"
    rf"|(?:0?[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?(?: of)? {_MONTH},? (?P<y4>(?:19|20)[0-9]{{2}})"
    r"|(?P<y5>(?:19|20)[0-9]{2})年(?:0?[1-9]|1[0-2])月(?:(?:0?[1-9]|[12][0-9]|3[01])日)?"
    r")(?![0-9])"
)
_BIRTH_BEFORE = re.compile(r"(?i)(?:\bborn\b|birth|\bDOB\b|D\.O\.B|出生|生日|生于)")
_BIRTH_AFTER = re.compile(r"\s*(?:出生|生(?![产活意效])|\(DOB\)|\(born\))")
BIRTH_REASON = "出生日期，仅留年份 (date of birth: the year only, FRCP 5.2(a)(2))"


# A text holds a date of birth only if it has one of the words: most do not, and the date pattern is the slow one.
_BIRTH_ANYWHERE = re.compile(_BIRTH_BEFORE.pattern + r"|[0-9日月]\s*(?:生(?![产活意效])|\((?:DOB|born)\))")


def _birth_hits(norm: str) -> Iterator[Hit]:
    if not _BIRTH_ANYWHERE.search(norm):
        return
    for m in _DATE.finditer(norm):
        if _context(norm[max(0, m.start() - 40) : m.start()], _BIRTH_BEFORE) or _BIRTH_AFTER.match(norm, m.end()):
            year = next(y for y in m.group("y1", "y2", "y3", "y4", "y5") if y)
            yield (m.start(), m.end(), "birth_date", year + ("年" if m.group("y5") else ""), BIRTH_REASON)


_LATIN_NAME = r"[A-Z][a-z'-]+(?: [A-Z]\.)?(?: [A-Z][a-z'-]+){1,2}"
_MINOR_MARKED = re.compile(
    rf"(?P<a>{_LATIN_NAME})(?=\s*(?:\((?:a )?minor\)|, a minor\b))|(?i:\bminor(?: child)?) (?P<b>{_LATIN_NAME})"
)
MINOR_REASON = "未成年人姓名，改为首字母 (minor's name: initials only, FRCP 5.2(a)(3))"


def _minor_marked_hits(norm: str) -> Iterator[Hit]:
    if "minor" not in norm.lower():
        return
    for m in _MINOR_MARKED.finditer(norm):
        group = "a" if m.group("a") else "b"
        yield (m.start(group), m.end(group), "minor", initials(m.group(group)), MINOR_REASON)


DETECTORS: dict[str, tuple[Callable[[str], Iterator[Hit]], ...]] = {
    "none": (),
    "publication": (_email_hits, _plate_hits, _address_hits),
    "us-frcp": (_birth_hits, _minor_marked_hits),
}

# What each kind is, for the preview and the bench: kind -> (in words, replaced by).
KINDS: dict[str, tuple[str, str]] = {
    "id_card": ("身份证号 (ID card number)", CROSS),
    "mobile": ("手机号码 (mobile number)", CROSS),
    "landline": ("固定电话 (landline number)", CROSS),
    "bank_card": ("银行卡号 (bank card number)", CROSS),
    "email": ("电子邮箱 (e-mail)", CROSS),
    "plate": ("车牌号 (licence plate)", CROSS),
    "address": ("详细住址 (detailed address)", "省市县区 + ×××"),
    "name": ("姓名 (name)", "姓 + 某 (surname + 某)"),
    "ssn": ("SSN / TIN", "XXX-XX-1234"),
    "account": ("金融账户 (financial account)", "XXXX1234"),
    "birth_date": ("出生日期 (date of birth)", "year"),
    "minor": ("未成年人 (minor)", "initials"),
}


# --- names from the case roster ---------------------------------------------------------------------------------

COMPOUND_SURNAMES = (
    "欧阳 司马 诸葛 上官 皇甫 东方 慕容 令狐 司徒 夏侯 尉迟 长孙 公孙 宇文 西门 南宫 独孤 端木 申屠 轩辕 "
    "澹台 公冶 宗政 濮阳 淳于 单于 太叔 仲孙 钟离 闻人 万俟 赫连 呼延 百里 东郭 南门 羊舌 微生 梁丘 左丘 "
    "东门 拓跋 完颜 司空 司寇 亓官 乐正 壤驷 公良 漆雕 谷梁 段干 巫马 公西 第五"
).split()
_ORGANISATION = re.compile(
    r"公司|银行|法院|检察院|公安|委员会|学校|医院|集团|协会|中心|事务所|研究所|研究院|大学|学院|政府|办事处|合作社"
    r"|基金会|商行|经营部|机关|有限|股份|厂$|店$|局|社$|部$|馆$|站$|所$|处$|院$|队$|场$|校$"
    r"|(?i:\b(?:inc|llc|ltd|corp|co|company|bank|court|county|state|department|agency|university|school)\b)"
)
_FAMILY_CAUSE = re.compile(
    r"婚姻|离婚|婚约|夫妻|同居关系|抚养|扶养|赡养|继承|遗嘱|遗赠|遗产|收养|监护|探望|亲子|分家析产|家庭|亲属"
)
_CASE_TYPE = re.compile(r"[)）][^0-9民刑行执]*[0-9]*([民刑行执])")
_PARTY_ROLE = re.compile(r"原告|被告|第三人|申请人|上诉人|申诉人|起诉人|当事人|原审|法定代理人|监护人")
_LAWYER_ROLE = re.compile(r"委托|诉讼代理人|辩护|律师|公诉|检察")
_CRIMINAL_PROTECTED = re.compile(r"被害人|附带民事诉讼原告|证人|鉴定人")
_MINOR_MARK = re.compile(r"未成年|(?i:\bminor\b)|(?i:\bchild\b)")
_MARKER = re.compile(r"\s*[(（][^)）]*[)）]\s*")  # "张小明（未成年）", "Jane Doe (minor)"
_LATIN = re.compile(r"[A-Za-z][A-Za-z .'-]*")


def case_kind(case_number: str, cause: str) -> str:
    """ "family", "criminal", "administrative", "enforcement", "civil" or "" (unknown), from the case number's type
    character (（2024）京0105民初1234号: 民) and the cause (案由)."""
    m = _CASE_TYPE.search(normalise(case_number))
    type_char = m.group(1) if m else ""
    if _FAMILY_CAUSE.search(cause) and type_char in ("", "民", "执"):
        return "family"
    if type_char == "刑" or (not type_char and cause.endswith("罪")):
        return "criminal"
    return {"行": "administrative", "执": "enforcement", "民": "civil"}.get(type_char, "")


def bare_name(name: str) -> str:
    """The name without a marker in brackets: "张小明（未成年）" -> "张小明"."""
    return _MARKER.sub("", name).strip()


def is_organisation(name: str) -> bool:
    return _ORGANISATION.search(name) is not None


def surname_mask(name: str) -> str:
    """SPC 2016 art. 9: surname + 某 (欧阳某); a minority or foreign name written with · keeps its first character;
    a Latin name its first letter."""
    if _LATIN.fullmatch(name):
        return name[0].upper()
    if "·" in normalise(name):
        return name[0] + "某"
    for compound in COMPOUND_SURNAMES:
        if name.startswith(compound) and len(name) > len(compound):
            return compound + "某"
    return name[0] + "某"


def initials(name: str) -> str:
    """FRCP 5.2(a)(3): "Jane Q. Doe" -> "J.Q.D."; a Chinese name (no romanisation here) -> surname + 某."""
    if _LATIN.fullmatch(name):
        return "".join(part[0].upper() + "." for part in name.replace(".", " ").split() if part[0].isalpha())
    return surname_mask(name)


def _roster(record: HearingRecord) -> list[tuple[str, str, bool]]:
    """(role, full name as written, is a legal representative of a party) for every person the record names as a
    party, a representative, on the case's roster (`HearingRecord.roster`) or a labelled speaker, in that order."""
    people = []
    for party in record.parties:
        people.append((party.role, party.name, False))
        for rep in party.representatives:
            if re.search(r"法定代理人|监护人", rep):
                # "法定代理人王丽（系原告之母）", "王丽，法定代理人，系原告之母", "法定代理人：王丽" -> 王丽
                pieces = re.split(r"[，,：:;；\s]+", re.sub(r"法定代理人|监护人", " ", bare_name(rep)))
                name = next((p for p in pieces if p and not p.startswith("系")), "")
                marker = party.name.replace(bare_name(party.name), "")  # a minor's representative: art. 8(3)
                people.append((party.role + marker + "法定代理人", name, True))
    for role, name in record.roster:  # the case's roster: a witness, an interpreter no party list names
        people.append((role, name, False))
    for label in record.labels.values():
        if label.name:
            people.append((label.role or "", label.name, False))
    return people


def _anonymise_reason(role: str, name: str, kind: str, profile: str) -> str | None:
    """Why this person's name is masked under the profile, or None when it is kept."""
    if is_organisation(bare_name(name)) or "公诉机关" in role:
        return None
    minor = _MINOR_MARK.search(role + " " + name) is not None
    if profile == "us-frcp":
        return MINOR_REASON if minor else None
    if minor:
        return "未成年人姓名隐名 (minor's name: surname + 某, SPC 2016 art. 8)"
    if _CRIMINAL_PROTECTED.search(role) and (kind == "criminal" or "被害人" in role):
        return "刑事案件被害人、证人、鉴定人姓名隐名 (criminal case victim, witness or expert: surname + 某, art. 8)"
    if kind == "family" and _PARTY_ROLE.search(role) and not _LAWYER_ROLE.search(role):
        return "婚姻家庭、继承案件当事人姓名隐名 (party in a family or inheritance case: surname + 某, art. 8)"
    return None


def roster_names(record: HearingRecord, profile: str) -> dict[str, tuple[str, str]]:
    """Full name -> (replacement, reason) for the people of the roster whose names the profile masks."""
    if profile not in ("publication", "us-frcp"):
        return {}
    kind = case_kind(record.case_number, record.cause)
    chosen: dict[str, str] = {}
    for role, name, _rep in _roster(record):
        bare = bare_name(name)
        if len(bare) < 2 or bare in chosen:
            continue
        reason = _anonymise_reason(role, name, kind, profile)
        if reason is not None:
            chosen[bare] = reason
    masks = {name: (initials(name) if profile == "us-frcp" else surname_mask(name)) for name in chosen}
    # art. 9: two people whose masked names would read the same are told apart by a number.
    counts: dict[str, int] = {}
    for mask in masks.values():
        counts[mask] = counts.get(mask, 0) + 1
    seen: dict[str, int] = {}
    result = {}
    for name, mask in masks.items():
        if counts[mask] > 1:
            seen[mask] = seen.get(mask, 0) + 1
            mask = f"{mask}{seen[mask]}"
        result[name] = (mask, chosen[name])
    return result


@lru_cache(maxsize=64)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """The names, longest first, each also as surname + space + given name ("张 三")."""
    forms = []
    for name in sorted(names, key=len, reverse=True):
        forms.append(re.escape(name))
        if not _LATIN.fullmatch(name) and len(name) >= 2:
            surname = next((c for c in COMPOUND_SURNAMES if name.startswith(c) and len(name) > len(c)), name[0])
            forms.append(re.escape(surname) + r"[ \u3000]+" + re.escape(name[len(surname) :]))
    return re.compile("|".join(forms)) if forms else None


def _name_hits(text: str, names: Mapping[str, tuple[str, str]], kind: str) -> Iterator[Hit]:
    pattern = _names_pattern(tuple(names))
    if pattern is None:
        return
    for m in pattern.finditer(text):
        key = re.sub(r"[ \u3000]+", "", m.group())
        replacement, reason = names.get(key, names.get(m.group(), ("", "")))
        if replacement:
            yield (m.start(), m.end(), kind, replacement, reason)


# --- finding and applying ---------------------------------------------------------------------------------------

_HAS_DIGIT_OR_AT = re.compile(r"[0-9@]")


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise RedactionError(f"未知的脱敏方案：{profile!r}，可选 {', '.join(PROFILES)} (unknown redaction profile)")


def _find(text: str, profile: str, names: Mapping[str, tuple[str, str]]) -> list[Hit]:
    if profile == "none" or not text:
        return []
    norm = normalise(text)
    hits: list[Hit] = []
    if names:
        hits.extend(_name_hits(text, names, "minor" if profile == "us-frcp" else "name"))
    if _HAS_DIGIT_OR_AT.search(norm) or profile == "us-frcp":
        hits.extend(_number_hits(norm, NUMBER_KINDS[profile]))
        for detector in DETECTORS[profile]:
            hits.extend(detector(norm))
    return _without_overlaps(hits)


def _without_overlaps(hits: list[Hit]) -> list[Hit]:
    """Where two finds overlap the longer one stands (an e-mail holding a mobile number is one e-mail)."""
    chosen: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h[0] - h[1], h[0])):
        if all(hit[1] <= c[0] or hit[0] >= c[1] for c in chosen):
            chosen.append(hit)
    return sorted(chosen)


def find(text: str, profile: str, *, names: Mapping[str, str] | None = None) -> list[Hit]:
    """Every identifier the profile removes from one text, as (start, end, kind, replacement, reason), in order.
    `names`: full name -> replacement, for the roster's names (redact() works them out from the record)."""
    _check_profile(profile)
    reason = MINOR_REASON if profile == "us-frcp" else "姓名隐名处理 (name: surname + 某, SPC 2016 art. 9)"
    return _find(text, profile, {name: (mask, reason) for name, mask in (names or {}).items()})


def apply(text: str, hits: list[Hit]) -> str:
    """The text with each hit replaced (hits in order, not overlapping)."""
    parts, at = [], 0
    for start, end, _kind, replacement, _reason in hits:
        parts.append(text[at:start])
        parts.append(replacement)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def found_tag(text: str) -> str:
    """Six hex digits of the found text's sha256: the last part of a redaction id, so that an id kept in a preview
    matches nothing once the record changed and something else sits at that offset (the export then refuses it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


def redaction_id(where: str, start: int, kind: str, text: str) -> str:
    return f"{where}:{start}:{kind}:{found_tag(text)}"


def segment_index(where: str) -> int | None:
    """The dialogue segment a redaction's `where` names ("s12" -> 12); None for the roster and the appendix."""
    m = re.fullmatch(r"s([0-9]+)", where)
    return int(m.group(1)) if m else None


def redact(record: HearingRecord, profile: str, keep: Collection[str] = ()) -> RedactionResult:
    """A copy of the record with what the profile removes replaced in every segment text, the speaker labels' names,
    the parties' names and their representatives, and the appendix: each correction request's requester, reasons and
    texts, each sign-off step's reason. Ids in `keep` (a clerk unticked them) are left as they are; ids are
    `redaction_id(where, start, kind, found text)`, the same for the same record."""
    _check_profile(profile)
    keep = frozenset(keep)
    names = roster_names(record, profile)
    redactions: list[Redaction] = []

    def redacted(text: str, where: str, segment_start: float | None) -> str:
        applied = []
        for hit in _find(text, profile, names):
            start, end, kind, replacement, reason = hit
            rid = redaction_id(where, start, kind, text[start:end])
            if rid in keep:
                continue
            applied.append(hit)
            redactions.append(
                Redaction(rid, kind, text[start:end], replacement, reason, where, start, end, segment_start)
            )
        return apply(text, applied) if applied else text

    segments = []
    for i, seg in enumerate(record.transcript.segments):
        text = redacted(seg.text, f"s{i}", seg.start)
        words = list(seg.words) if text == seg.text else []  # a word's text would still hold what was removed
        segments.append(Segment(start=seg.start, end=seg.end, text=text, speaker=seg.speaker, words=words))
    transcript = dataclasses.replace(
        record.transcript,
        segments=segments,
        speakers=None if record.transcript.speakers is None else list(record.transcript.speakers),
        warnings=list(record.transcript.warnings),
    )
    labels = {
        sid: SpeakerLabel(
            role=label.role, name=redacted(label.name, f"label:{sid}", None) if label.name else label.name
        )
        for sid, label in record.labels.items()
    }
    parties = tuple(
        Party(
            role=party.role,
            name=redacted(party.name, f"party:{i}", None),
            representatives=tuple(redacted(rep, f"rep:{i}:{j}", None) for j, rep in enumerate(party.representatives)),
        )
        for i, party in enumerate(record.parties)
    )

    def corrected(note: CorrectionNote) -> CorrectionNote:
        at = f"corr:{note.number}"
        changes = tuple(
            (
                start,
                end,
                redacted(before, f"{at}:{k}:before", start),
                redacted(proposed, f"{at}:{k}:proposed", start),
            )
            for k, (start, end, before, proposed) in enumerate(note.changes)
        )
        return dataclasses.replace(
            note,
            requester=redacted(note.requester, f"{at}:requester", None),  # a party's name, masked as in the dialogue
            reason=redacted(note.reason, f"{at}:reason", None),
            decision_reason=redacted(note.decision_reason, f"{at}:decision", None),
            changes=changes,
        )

    corrections = tuple(corrected(note) for note in record.corrections)
    # A step's reason is free text (why a record was reopened, a note on the lock): it may name or number a person.
    signoffs = tuple(
        dataclasses.replace(step, reason=redacted(step.reason, f"trail:{i}:reason", None)) if step.reason else step
        for i, step in enumerate(record.signoffs)
    )
    # The roster is not printed; its names are masked all the same, so nothing downstream reads them in clear.
    roster = tuple((role, apply(name, list(_name_hits(name, names, "name")))) for role, name in record.roster)
    new_record = dataclasses.replace(
        record,
        transcript=transcript,
        labels=labels,
        parties=parties,
        corrections=corrections,
        signoffs=signoffs,
        roster=roster,
    )
    return RedactionResult(record=new_record, redactions=redactions)
