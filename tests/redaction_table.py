"""The planted-identifier table for redaction, and a generator of fresh sets for the bench.

`PLANTED`: each row an identifier in a sentence a court record would hold (text, identifier, kind, profile), in
every spelling the issue names (full-width digits, ideographic spaces and hyphens inside numbers, +86, brackets
around an area code, X as the check digit). `LOOK_ALIKES`: numbers a redactor must leave alone (case numbers,
statute articles, sums, dates, times, an ID number with a wrong check digit, a card number failing Luhn, 11
digits that are no mobile number). `build_record()` plants rows into a multi-segment HearingRecord;
`generated_rows(seed)` makes random valid identifiers by code (check digits, Luhn) in random sentences, a set the
table never wrote down.

Imports nothing from conftest, so the bench can use it too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.record.redact import id18_check_digit, luhn_valid
from workbench.speech.transcript import EngineInfo, HearingRecord, Party, Segment, SpeakerLabel, Transcript


@dataclass(frozen=True)
class Planted:
    text: str  # a sentence with the identifier in it
    identifier: str  # exactly the part the redactor must find
    kind: str  # the Redaction kind expected
    profile: str
    replacement: str = ""  # what the export shows, where a row pins it ("" : not checked)


@dataclass(frozen=True)
class LookAlike:
    text: str
    look_alike: str  # what must stay as it is
    what: str  # case number, statute, sum, date, time, bad checksum, ...
    profile: str
    elsewhere: str = ""  # the kind the other profile finds in it ("" for none): a phone is one under publication


PUB = "publication"
US = "us-frcp"

PLANTED: list[Planted] = [
    # ID card numbers: 18 digits with a valid GB 11643 check digit, X or x last, spaced, full-width; 15 digits.
    Planted("原告身份证号码110105199003071239，住所地北京市朝阳区。", "110105199003071239", "id_card", PUB),
    Planted("被告公民身份号码为32010219880815108X，对此无异议。", "32010219880815108X", "id_card", PUB),
    Planted("第三人身份证号51010719950620108x，系原告之弟。", "51010719950620108x", "id_card", PUB),
    Planted(
        "证人身份证号码４４０３０６１９８５１２１２４５６１，与原告系同事关系。",
        "４４０３０６１９８５１２１２４５６１",
        "id_card",
        PUB,
    ),
    Planted("身份证号是 110105 19900307 1239，请书记员核对。", "110105 19900307 1239", "id_card", PUB),
    Planted("其旧身份证号为110105900307123，已于二〇〇五年换领。", "110105900307123", "id_card", PUB),
    # Mobile numbers: plain, spaces, hyphens, +86 / 0086, full-width digits, ideographic spaces, full-width hyphens.
    Planted("原告联系电话13812345678，送达地址同住所地。", "13812345678", "mobile", PUB),
    Planted("被告的手机号是138 1234 5678，随时可以联系。", "138 1234 5678", "mobile", PUB),
    Planted("代理人电话：139-1234-5678。", "139-1234-5678", "mobile", PUB),
    Planted("原告在境外，手机+86 138 0013 8000，请通过该号码通知。", "+86 138 0013 8000", "mobile", PUB),
    Planted("被告留的号码是0086-15912345678，现已停机。", "0086-15912345678", "mobile", PUB),
    Planted("证人电话１３９１２３４５６７８，当庭确认。", "１３９１２３４５６７８", "mobile", PUB),
    Planted("原告手机１３８\u30001234\u30005678，短信送达。", "１３８\u30001234\u30005678", "mobile", PUB),
    Planted("被告手机号码186－1234－5678，已接通。", "186－1234－5678", "mobile", PUB),
    Planted("请联系(+86)177 0123 4567确认。", "(+86)177 0123 4567", "mobile", PUB),
    Planted("名片上写着Tel.15012345678。", "15012345678", "mobile", PUB),
    # Landlines: area code with a hyphen, in brackets (also full-width), an extension, no separator.
    Planted("原告单位电话010-12345678，由书记员记录。", "010-12345678", "landline", PUB),
    Planted("被告公司座机(0755)8888 6666，法定代表人未到庭。", "(0755)8888 6666", "landline", PUB),
    Planted("送达电话（０２１）６２３４５６７８，已签收。", "（０２１）６２３４５６７８", "landline", PUB),
    Planted("原告办公电话0571-8765432-123，工作日可接听。", "0571-8765432-123", "landline", PUB),
    Planted("被告住宅电话02087654321，无人接听。", "02087654321", "landline", PUB),
    # Bank card numbers passing Luhn: plain, spaced every 4, hyphens, full-width, 16 to 19 digits.
    Planted("货款汇入原告银行卡6222021234567890128，有转账记录为证。", "6222021234567890128", "bank_card", PUB),
    Planted("被告账户卡号6217 0001 2345 6789 019，开户行为建设银行。", "6217 0001 2345 6789 019", "bank_card", PUB),
    Planted("原告提交的信用卡号4392 2600 1234 5672，系被告名下。", "4392 2600 1234 5672", "bank_card", PUB),
    Planted(
        "收款卡号６２２８４８０１２３４５６７８９１８，户名为原告。",
        "６２２８４８０１２３４５６７８９１８",
        "bank_card",
        PUB,
    ),
    Planted("转账至5200-0011-1222-3339账户。", "5200-0011-1222-3339", "bank_card", PUB),
    # E-mail, with dots and underscores, and a full-width @.
    Planted("原告电子邮箱zhangsan@163.com，同意电子送达。", "zhangsan@163.com", "email", PUB),
    Planted("被告代理人邮箱li.si_2020@court.gov.cn，已确认收到。", "li.si_2020@court.gov.cn", "email", PUB),
    Planted("证人邮箱wangwu＠qq.com，庭后补充材料。", "wangwu＠qq.com", "email", PUB),
    # Licence plates: ordinary, new energy (small and large), with a middle dot or a space, a consulate's plate.
    Planted("事故车辆京A12345由被告驾驶。", "京A12345", "plate", PUB),
    Planted("原告所有的粤B·D12345号新能源车受损。", "粤B·D12345", "plate", PUB),
    Planted("被告驾驶的沪A12345D号货车。", "沪A12345D", "plate", PUB),
    Planted("肇事车辆为苏E 8G888，已被扣押。", "苏E 8G888", "plate", PUB),
    Planted("涉案车辆沪A1234领号停放于路边。", "沪A1234领", "plate", PUB),
    # Detailed addresses: the whole address is found; the replacement keeps province to district (art. 11).
    Planted(
        "被告住北京市朝阳区建国路88号院3号楼2单元1502室。", "北京市朝阳区建国路88号院3号楼2单元1502室", "address", PUB
    ),
    Planted(
        "原告住浙江省杭州市西湖区文三路478号华星时代广场A座1203室，送达地址同上。",
        "浙江省杭州市西湖区文三路478号华星时代广场A座1203室",
        "address",
        PUB,
    ),
    Planted("被告户籍地河北省保定市清苑区冉庄镇东闾村128号。", "河北省保定市清苑区冉庄镇东闾村128号", "address", PUB),
    Planted(
        "第三人现住成都市武侯区玉林西路52号2栋3单元601室。", "成都市武侯区玉林西路52号2栋3单元601室", "address", PUB
    ),
    Planted("原告住上海市徐汇区天平路245弄3号1202室。", "上海市徐汇区天平路245弄3号1202室", "address", PUB),
    Planted("送达地址：朝阳区幸福小区3栋2单元501。", "朝阳区幸福小区3栋2单元501", "address", PUB, "朝阳区×××"),
    Planted("被告现住建国门外大街甲6号。", "建国门外大街甲6号", "address", PUB),
    Planted(
        "原告户籍地安徽省阜阳市临泉县城关镇李庄村3组。",
        "安徽省阜阳市临泉县城关镇李庄村3组",
        "address",
        PUB,
        "安徽省阜阳市临泉县×××",
    ),
    Planted(
        "被告住上海市浦东新区世纪大道100号环球金融中心，系公司职员。",
        "上海市浦东新区世纪大道100号环球金融中心",
        "address",
        PUB,
    ),
    # The kept part is the real divisions only, the first ones: a 园区, 小区, 片区 or 开发区 after the district (or
    # a 工业园区 after the city) goes with the detail; 市中区, 地区, 自治州 and a county-level 市 are divisions.
    Planted(
        "原告住深圳市南山区科技园南区科苑路10号。",
        "深圳市南山区科技园南区科苑路10号",
        "address",
        PUB,
        "深圳市南山区×××",
    ),
    Planted(
        "被告住广东省深圳市南山区科技园南区高新南一道10号。",
        "广东省深圳市南山区科技园南区高新南一道10号",
        "address",
        PUB,
        "广东省深圳市南山区×××",
    ),
    Planted(
        "送达地址北京市朝阳区望京小区南区5号楼2单元301室。",
        "北京市朝阳区望京小区南区5号楼2单元301室",
        "address",
        PUB,
        "北京市朝阳区×××",
    ),
    Planted(
        "原告住天津市滨海新区经济技术开发区第三大街5号。",
        "天津市滨海新区经济技术开发区第三大街5号",
        "address",
        PUB,
        "天津市滨海新区×××",
    ),
    Planted("原告住苏州市工业园区星湖街328号。", "苏州市工业园区星湖街328号", "address", PUB, "苏州市×××"),
    Planted(
        "被告住杭州市余杭区未来科技城园区文一西路969号。",
        "杭州市余杭区未来科技城园区文一西路969号",
        "address",
        PUB,
        "杭州市余杭区×××",
    ),
    Planted(
        "被告住广州市天河区珠江新城片区花城大道68号。",
        "广州市天河区珠江新城片区花城大道68号",
        "address",
        PUB,
        "广州市天河区×××",
    ),
    Planted("原告住苏州市昆山市开发区前进路8号。", "苏州市昆山市开发区前进路8号", "address", PUB, "苏州市昆山市×××"),
    Planted("原告住济南市市中区经四路12号。", "济南市市中区经四路12号", "address", PUB, "济南市市中区×××"),
    Planted("原告住攀枝花市东区炳草岗大街9号。", "攀枝花市东区炳草岗大街9号", "address", PUB, "攀枝花市东区×××"),
    Planted(
        "原告住新疆维吾尔自治区阿克苏地区库车市天山路3号。",
        "新疆维吾尔自治区阿克苏地区库车市天山路3号",
        "address",
        PUB,
        "新疆维吾尔自治区阿克苏地区库车市×××",
    ),
    Planted(
        "原告住湖北省恩施土家族苗族自治州恩施市舞阳大街12号。",
        "湖北省恩施土家族苗族自治州恩施市舞阳大街12号",
        "address",
        PUB,
        "湖北省恩施土家族苗族自治州恩施市×××",
    ),
    Planted("肇事车辆京N·A1B2C逃逸。", "京N·A1B2C", "plate", PUB),
    Planted("车辆京A-12345停在门口。", "京A-12345", "plate", PUB),
    Planted("请拨打+86 10 8765 4321联系原告单位。", "+86 10 8765 4321", "landline", PUB),
    Planted("原告电话010-12345678转123，工作时间接听。", "010-12345678转123", "landline", PUB),
    # FRCP 5.2: SSNs and TINs, account and card numbers (last four), dates of birth (year), minors (initials).
    Planted("The plaintiff's SSN is 123-45-6789, as stated in the complaint.", "123-45-6789", "ssn", US),
    Planted("Her social security number, 219 09 9999, appears on the form.", "219 09 9999", "ssn", US),
    Planted("Defendant gave SSN 536901234 at booking.", "536901234", "ssn", US),
    Planted("The company's EIN 12-3456789 is on the return.", "12-3456789", "ssn", US),
    Planted("Funds went to account number 0012345678 at the bank.", "0012345678", "account", US),
    Planted("Account number 0012345678; call 138 1234 5678.", "0012345678", "account", US, "XXXXXX5678"),
    Planted("He paid with card 4111 1111 1111 1111 on that day.", "4111 1111 1111 1111", "account", US),
    Planted("原告银行卡号6222 0212 3456 7890 128。", "6222 0212 3456 7890 128", "account", US),
    Planted("The witness was born on March 5, 1990 in Ohio.", "March 5, 1990", "birth_date", US),
    Planted("DOB: 03/05/1990, per the exhibit.", "03/05/1990", "birth_date", US),
    Planted("Her date of birth is 1988-11-23.", "1988-11-23", "birth_date", US),
    Planted("原告1990年3月5日出生，汉族。", "1990年3月5日", "birth_date", US),
    Planted("She was born on the 5th of March, 1990.", "5th of March, 1990", "birth_date", US),
    Planted("Date of birth: 05.03.1990 (as in the passport).", "05.03.1990", "birth_date", US),
    Planted("Jane Doe (minor) testified by video.", "Jane Doe", "minor", US),
    Planted("Counsel for the minor child John Smith objected.", "John Smith", "minor", US),
]

LOOK_ALIKES: list[LookAlike] = [
    LookAlike("本案案号（2024）京0105民初1234号，现在开庭。", "（2024）京0105民初1234号", "case number", PUB),
    LookAlike("二审案号(2023)最高法民终123号。", "(2023)最高法民终123号", "case number", PUB),
    LookAlike("公诉机关指控，案号（2024）沪0115刑初5678号。", "（2024）沪0115刑初5678号", "case number", PUB),
    LookAlike("依照《中华人民共和国民事诉讼法》第一百二十条的规定。", "第一百二十条", "statute", PUB),
    LookAlike("根据第12条第2款，被告应当承担责任。", "第12条第2款", "statute", PUB),
    LookAlike("依据《民法典》第1079条，准予离婚。", "第1079条", "statute", PUB),
    LookAlike("原告请求被告支付人民币50000元。", "人民币50000元", "sum", PUB),
    LookAlike("货款合计¥12,345.00，已付一半。", "¥12,345.00", "sum", PUB),
    LookAlike("双方约定违约金5万元。", "5万元", "sum", PUB),
    LookAlike("涉案金额13800000000元，属特别巨大。", "13800000000元", "sum", PUB),
    LookAlike("标的额为人民币1,380,000元。", "人民币1,380,000元", "sum", PUB),
    LookAlike("合同签订于2024年3月5日。", "2024年3月5日", "date", PUB),
    LookAlike("付款日期2024-03-05，有银行回单。", "2024-03-05", "date", PUB),
    LookAlike("交货日期为2024/03/05。", "2024/03/05", "date", PUB),
    LookAlike("今天14:30继续开庭。", "14:30", "time", PUB),
    LookAlike("下午3点宣判。", "下午3点", "time", PUB),
    LookAlike("不公开审理部分00:10:00—00:20:00已略去。", "00:10:00—00:20:00", "time", PUB),
    LookAlike("按年利率3.85%计算利息。", "3.85%", "percent", PUB),
    LookAlike("请看证据3的第二页。", "证据3", "exhibit", PUB),
    LookAlike("见卷宗第5页。", "第5页", "page", PUB),
    LookAlike("他知道3号开庭。", "3号", "day of month", PUB),
    LookAlike("身份证号码110105199003071234，校验位不对。", "110105199003071234", "ID bad checksum", PUB),
    LookAlike("号码110105199013071230，出生月份无效。", "110105199013071230", "ID bad date", PUB),
    LookAlike("旧号码110105901307123，日期无效。", "110105901307123", "old ID bad date", PUB),
    LookAlike("卡号6222021234567890127，不能通过校验。", "6222021234567890127", "card fails Luhn", PUB),
    LookAlike("卡号6217 0001 2345 6789 010有误。", "6217 0001 2345 6789 010", "card fails Luhn", PUB),
    LookAlike("编号12345678901不是电话。", "12345678901", "11 digits, no mobile", PUB),
    LookAlike("编号14012345678不是电话。", "14012345678", "11 digits, unused block", PUB),
    LookAlike("流水号1381234567共十位。", "1381234567", "10 digits", PUB),
    LookAlike("流水号138123456789共十二位。", "138123456789", "12 digits", PUB),
    LookAlike("统一社会信用代码91110105MA01ABCD2X。", "91110105MA01ABCD2X", "credit code", PUB),
    LookAlike("圆周率3.1415926535897932。", "3.1415926535897932", "decimal", PUB),
    LookAlike("客服热线400-800-8888。", "400-800-8888", "hotline", PUB),
    LookAlike("依据GB 11643-1999的规定。", "GB 11643-1999", "standard", PUB),
    LookAlike("编号1234567812345678为合同编号。", "1234567812345678", "16 digits, no card", PUB),
    LookAlike("第3号证据是借条。", "第3号", "exhibit", PUB),
    LookAlike("订单号02024030512已发货。", "02024030512", "order number", PUB),
    LookAlike("发票号码6222021234567890128已核销。", "6222021234567890128", "invoice number", PUB),
    LookAlike("The hearing was held on March 5, 2024.", "March 5, 2024", "date", US),
    LookAlike("Case No. 1:23-cv-04567 is before the court.", "1:23-cv-04567", "case number", US),
    LookAlike("Damages of $12,345.67 are claimed.", "$12,345.67", "sum", US),
    LookAlike("Call the clerk at 555-123-4567.", "555-123-4567", "phone", US),
    LookAlike("Mail it to ZIP 94103-1234.", "94103-1234", "zip", US),
    LookAlike("The account was opened on 2024-03-05.", "2024-03-05", "date", US),
    LookAlike("Jurisdiction lies under 28 U.S.C. § 1332.", "28 U.S.C. § 1332", "statute", US),
    LookAlike("Card 4111 1111 1111 1112 fails the check.", "4111 1111 1111 1112", "card fails Luhn", US),
    # FRCP 5.2(a) lists no phone numbers: a Chinese mobile or landline is no account, even after the word for one.
    LookAlike("原告微信 13912345678，庭后联系。", "13912345678", "phone", US, "mobile"),
    LookAlike("Please call 138 1234 5678 after the hearing.", "138 1234 5678", "phone", US, "mobile"),
    LookAlike("账户开户时预留的手机号13912345678已停用。", "13912345678", "phone after 账户", US, "mobile"),
    LookAlike("The account holder's WeChat is +86 139 1234 5678.", "+86 139 1234 5678", "phone", US, "mobile"),
    LookAlike("Account contact: 8613800000004 (a Luhn-valid 13 digits).", "8613800000004", "phone, 86 in front", US),
    LookAlike("账号绑定的固定电话010-12345678。", "010-12345678", "landline after 账号", US, "landline"),
    LookAlike("account desk 0571-8765432-123", "0571-8765432-123", "landline", US, "landline"),
]


# --- a record to plant them in -----------------------------------------------------------------------------------

ROSTER = (
    Party("原告", "欧阳明", ("法定代理人王丽（系原告之母）", "李律师，北京某律师事务所律师")),
    Party("被告", "张三", ()),
    Party("第三人", "北京天成科技有限公司", ()),
)
LABELS = {
    "S1": SpeakerLabel("审判长", "赵法官"),
    "S2": SpeakerLabel("原告", "欧阳明"),
    "S3": SpeakerLabel("被告", "张三"),
    "S4": SpeakerLabel("书记员", "孙书记"),
}


@dataclass(frozen=True)
class Planting:
    """Where build_record() put each row: segment index -> the rows in it."""

    record: HearingRecord
    planted: dict[int, list[Planted]]
    look_alikes: dict[int, list[LookAlike]]


def build_record(
    planted: Sequence[Planted],
    look_alikes: Sequence[LookAlike] = (),
    *,
    case_number: str = "（2024）京0105民初1234号",
    cause: str = "买卖合同纠纷",
    parties: tuple[Party, ...] = ROSTER,
    labels: dict[str, SpeakerLabel] | None = None,
    pair_every: int = 5,
) -> Planting:
    """A hearing whose segments hold the rows' sentences, one a segment, and every `pair_every`-th segment two rows
    joined (so a segment with several identifiers is tried too), between plain court phrases."""
    filler = ["现在开庭。", "请原告陈述诉讼请求。", "被告对证据有何意见？", "对真实性没有异议。", "下面进行法庭辩论。"]
    texts: list[tuple[str, list[Planted], list[LookAlike]]] = []
    rows: list[Planted | LookAlike] = [*planted, *look_alikes]
    i = 0
    while i < len(rows):
        take = rows[i : i + 2] if pair_every and len(texts) % pair_every == pair_every - 1 else rows[i : i + 1]
        i += len(take)
        texts.append(
            (
                "".join(r.text for r in take),
                [r for r in take if isinstance(r, Planted)],
                [r for r in take if isinstance(r, LookAlike)],
            )
        )
        texts.append((filler[len(texts) % len(filler)], [], []))
    segments, where_planted, where_look = [], {}, {}
    speakers = list((labels or LABELS).keys())
    for n, (text, ps, ls) in enumerate(texts):
        segments.append(
            Segment(start=n * 5.0, end=n * 5.0 + 4.0, text=text, speaker=speakers[n % len(speakers)], words=[])
        )
        if ps:
            where_planted[n] = ps
        if ls:
            where_look[n] = ls
    transcript = Transcript(
        file="planted.wav",
        sha256="0" * 64,
        duration=len(segments) * 5.0,
        language="zh",
        engine=EngineInfo(asr="reference", model="planted"),
        segments=segments,
    )
    record = HearingRecord(
        transcript=transcript,
        labels=dict(labels or LABELS),
        court="北京市朝阳区人民法院",
        case_number=case_number,
        cause=cause,
        parties=parties,
        clerk="孙书记",
    )
    return Planting(record, where_planted, where_look)


# --- a fresh set, generated: valid check digits and Luhn, random spellings -----------------------------------------

_REGION_CODES = ["110105", "310115", "440306", "320102", "510107", "330106", "420106", "610113", "370202", "500103"]
_MOBILE_PREFIXES = ["138", "139", "135", "150", "151", "158", "186", "187", "177", "199", "166", "147", "173", "189"]
_AREA = ["010", "021", "020", "022", "023", "0755", "0571", "0512", "0531", "0731", "0898"]
_CARD_PREFIXES = ["622202", "621700", "622848", "622588", "436742", "625965", "955880", "601382", "524094"]
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂桂甘晋陕吉闽贵粤川"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_PROVINCE_CITY = [
    ("北京市", "朝阳区"),
    ("上海市", "浦东新区"),
    ("广东省深圳市", "南山区"),
    ("浙江省杭州市", "西湖区"),
    ("江苏省南京市", "鼓楼区"),
    ("四川省成都市", "武侯区"),
    ("湖北省武汉市", "江汉区"),
    ("河北省保定市", "清苑县"),
]
_ZONES = [
    "科技园南区",
    "经济技术开发区",
    "工业园区",
    "高新技术产业开发区",
    "蛇口片区",
    "滨江新城园区",
    "软件园二期西区",
]
_ROADS = ["建国路", "中山北路", "解放大道", "人民街", "文三路", "天平路", "长安街", "玉林西路", "和平巷", "光明胡同"]
_FW = str.maketrans("0123456789-", "０１２３４５６７８９－")
PLANT_TEMPLATES: dict[str, list[str]] = {
    "id_card": ["原告身份证号码{x}，", "被告的公民身份号码为{x}。", "经核对，证人身份证号{x}无误。"],
    "mobile": ["原告联系电话{x}。", "被告手机{x}，已短信送达。", "请记录代理人电话：{x}。"],
    "landline": ["单位电话{x}。", "送达电话为{x}，无人接听。", "被告座机{x}。"],
    "bank_card": ["款项转入卡号{x}。", "被告银行卡{x}有交易记录。", "收款账户{x}，户名为原告。"],
    "email": ["原告邮箱{x}，同意电子送达。", "请发送至{x}。"],
    "plate": ["事故车辆{x}由被告驾驶。", "涉案车辆为{x}，已扣押。"],
    "address": ["被告住{p}{x}。", "原告现住{p}{x}，送达地址同上。", "户籍地{p}{x}。"],
    "ssn": ["The SSN is {x}.", "Social security number {x} was given."],
    "account": ["Funds were wired to account number {x}.", "The account no. {x} was frozen.", "Acct {x} is hers."],
    "birth_date": ["The witness was born on {x}.", "DOB: {x}.", "原告{x}出生。"],
}
LOOK_TEMPLATES = ["本案{x}现在开庭。", "依据{x}的规定。", "双方确认{x}属实。", "记录在案：{x}。"]
US_PHONE_TEMPLATES = ["The account holder can be reached at {x}.", "账户预留电话{x}。", "Account manager, call {x}."]


def _spell(rng: random.Random, digits: str, groups: Sequence[int]) -> str:
    """Digits written one of the ways people write them: plain, grouped by spaces or hyphens, full-width."""
    style = rng.choice(["plain", "plain", "space", "hyphen", "fullwidth", "ideographic"])
    if style == "plain":
        return digits
    parts, at = [], 0
    for g in groups:
        parts.append(digits[at : at + g])
        at += g
    if at < len(digits):
        parts.append(digits[at:])
    if style == "space":
        return " ".join(parts)
    if style == "hyphen":
        return "-".join(parts)
    if style == "ideographic":
        return "\u3000".join(parts).translate(_FW)
    return digits.translate(_FW)


def random_birth(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)


def gen_id18(rng: random.Random, *, valid: bool = True) -> str:
    y, m, d = random_birth(rng)
    first17 = f"{rng.choice(_REGION_CODES)}{y:04d}{m:02d}{d:02d}{rng.randint(0, 999):03d}"
    check = id18_check_digit(first17)
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return first17 + (check.lower() if check == "X" and rng.random() < 0.3 else check)


def gen_id15(rng: random.Random) -> str:
    y, m, d = random_birth(rng)
    return f"{rng.choice(_REGION_CODES)}{y % 100:02d}{m:02d}{d:02d}{rng.randint(0, 999):03d}"


def gen_mobile(rng: random.Random) -> str:
    digits = rng.choice(_MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
    spelt = _spell(rng, digits, (3, 4))
    prefix = rng.choice(["", "", "", "+86 ", "+86-", "0086-", "+86"])
    return prefix + spelt if spelt.isascii() else spelt


def gen_landline(rng: random.Random) -> str:
    area = rng.choice(_AREA)
    local = str(rng.randint(2, 8)) + f"{rng.randint(0, 9_999_999):07d}"
    if len(area) == 4 and rng.random() < 0.3:
        local = local[:7]
    form = rng.choice(["{a}-{l}", "({a}){l}", "{a}{l}", "{a}-{l}-{e}", "({a}){l1} {l2}"])
    text = form.format(a=area, l=local, e=rng.randint(1, 999), l1=local[:-4], l2=local[-4:])
    return text.translate(_FW) if rng.random() < 0.2 else text


def gen_bank_card(rng: random.Random, *, valid: bool = True) -> str:
    body = rng.choice(_CARD_PREFIXES)
    length = rng.choice([16, 16, 17, 18, 19, 19])
    while len(body) < length - 1:
        body += str(rng.randint(0, 9))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return _spell(rng, body + check, (4, 4, 4, 4))


def gen_email(rng: random.Random) -> str:
    user = rng.choice(["zhang", "li.na", "wang_wei", "chen2019", "liu-yang", "zhao.lei88"])
    host = rng.choice(["163.com", "qq.com", "126.com", "gmail.com", "sina.com.cn", "court.gov.cn"])
    return f"{user}{rng.randint(1, 999)}@{host}"


def gen_plate(rng: random.Random) -> str:
    head = rng.choice(_PLATE_PROVINCES) + rng.choice(_PLATE_LETTERS)
    sep = rng.choice(["", "", "·", " "])
    kind = rng.random()
    if kind < 0.6:
        tail = "".join(rng.choice("0123456789") for _ in range(5))
        if rng.random() < 0.4:
            i = rng.randrange(5)
            tail = tail[:i] + rng.choice(_PLATE_LETTERS) + tail[i + 1 :]
    elif kind < 0.85:
        tail = rng.choice("DF") + rng.choice(_PLATE_LETTERS + "0123456789") + f"{rng.randint(0, 9999):04d}"
    else:
        tail = f"{rng.randint(0, 99999):05d}" + rng.choice("DF")
    return head + sep + tail


def gen_address(rng: random.Random) -> tuple[str, str]:
    """(the part kept: province to district, the detailed part planted)."""
    province, district = rng.choice(_PROVINCE_CITY)
    # a zone after the district is no division: it goes with the detail (科技园南区, 开发区, 工业园区, 小区 ...)
    zone = rng.choice(_ZONES) if rng.random() < 0.3 else ""
    detail = f"{zone}{rng.choice(_ROADS)}{rng.randint(1, 999)}号"
    if rng.random() < 0.7:
        detail += rng.choice(["", "院", f"{rng.choice('ABCD')}座"])
        if detail.endswith("院"):
            detail += f"{rng.randint(1, 20)}号楼"
        elif not detail.endswith("座"):
            detail += f"{rng.randint(1, 30)}栋"
        detail += f"{rng.randint(1, 6)}单元" if rng.random() < 0.5 else ""
        detail += f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
    return province + district, detail


def gen_ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    digits = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    sep = rng.choice(["-", "-", " "])
    return sep.join((digits[:3], digits[3:5], digits[5:]))


def gen_account(rng: random.Random) -> str:
    if rng.random() < 0.5:
        # not starting 1 or 8: 11 digits from 13x, or 86 and those, are the mobile number they look like (a phone
        # is no FRCP 5.2 item)
        first = rng.choice("0234567")
        return first + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(7, 13)))
    body = rng.choice(["4111", "4532", "5425", "3782"]) + "".join(str(rng.randint(0, 9)) for _ in range(11))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    return " ".join((body + check)[i : i + 4] for i in range(0, 16, 4))


def gen_birth_date(rng: random.Random) -> str:
    y, m, d = random_birth(rng)
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
    return rng.choice(
        [f"{months[m % 10]} {d}, {y}", f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{y}年{m}月{d}日"]
    )


GENERATORS = {
    "id_card": lambda rng: gen_id18(rng) if rng.random() < 0.8 else gen_id15(rng),
    "mobile": gen_mobile,
    "landline": gen_landline,
    "bank_card": lambda rng: gen_bank_card(rng),
    "email": gen_email,
    "plate": gen_plate,
    "ssn": gen_ssn,
    "account": gen_account,
    "birth_date": gen_birth_date,
}
US_KINDS = ("ssn", "account", "birth_date")


def _look_alike(rng: random.Random) -> tuple[str, str]:
    y, m, d = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
    court = rng.choice(["京0105", "沪0115", "粤0305", "浙0106", "最高法"])
    choices = [
        ("case number", f"（{y}）{court}{rng.choice(['民初', '民终', '刑初', '行初', '执'])}{rng.randint(1, 99999)}号"),
        ("statute", f"第{rng.randint(1, 1260)}条第{rng.randint(1, 5)}款"),
        ("sum", f"人民币{rng.randint(100, 99_999_999)}元"),
        ("sum", f"¥{rng.randint(1, 999)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"),
        ("sum", f"{rng.randint(1, 500)}万元"),
        ("date", f"{y}年{m}月{d}日"),
        ("date", f"{y}-{m:02d}-{d:02d}"),
        ("time", f"{rng.randint(8, 18)}:{rng.randint(0, 59):02d}"),
        ("percent", f"{rng.randint(1, 30)}.{rng.randint(0, 99)}%"),
        ("exhibit", f"证据{rng.randint(1, 60)}"),
        ("page", f"第{rng.randint(1, 400)}页"),
        ("ID bad checksum", gen_id18(rng, valid=False)),
        ("card fails Luhn", gen_bank_card(rng, valid=False)),
        ("11 digits, no mobile", rng.choice(["10", "11", "12"]) + f"{rng.randint(0, 999_999_999):09d}"),
    ]
    return rng.choice(choices)


def generated_rows(seed: int, count: int = 400) -> tuple[list[Planted], list[LookAlike]]:
    """`count` planted identifiers of every kind in random templates, and half as many look-alikes."""
    rng = random.Random(seed)
    planted = []
    kinds = [*GENERATORS, "address"]
    for _ in range(count):
        kind = rng.choice(kinds)
        template = rng.choice(PLANT_TEMPLATES[kind])
        profile = US if kind in US_KINDS else PUB
        if kind == "address":
            kept, identifier = gen_address(rng)
            text = template.format(p=kept, x=identifier)
            identifier = kept + identifier
            replacement = kept + "×××"
        else:
            identifier = GENERATORS[kind](rng)
            text = template.format(x=identifier)
            replacement = ""
        planted.append(Planted(text, identifier, kind, profile, replacement))
    look_alikes = []
    for _ in range(count // 2):
        what, text = _look_alike(rng)
        look_alikes.append(LookAlike(rng.choice(LOOK_TEMPLATES).format(x=text), text, what, PUB))
    for _ in range(count // 10):  # phones next to an account word: us-frcp leaves them alone
        kind = rng.choice(["mobile", "landline"])
        phone = GENERATORS[kind](rng)
        text = rng.choice(US_PHONE_TEMPLATES).format(x=phone)
        look_alikes.append(LookAlike(text, phone, "phone", US, kind))
    return planted, look_alikes
