"""Search benchmark: N hearings x M segments of mixed Chinese/English court text, then timed queries.

    .venv/bin/python bench/search.py                   # 1,000 x 1,000 into data/bench/search.duckdb
    .venv/bin/python bench/search.py --hearings 50     # a quick run
    .venv/bin/python bench/search.py --reuse           # skip the build, query an existing file
    .venv/bin/python bench/search.py --member-of 2     # the clerk's view: the same queries inside 2 of the cases

The text is generated deterministically (seeded) from court-hearing templates: 100 cases, hearings
spread over 2023-2025, speakers with roles and names, money, dates, exhibit numbers and English
testimony. Hearings are stored through `Store.save_transcript` (the worker's path: tokenize, insert
segments and postings in one transaction each), then the index is sorted once (`search.optimize`).
Prints index build time, database size, median/p95 of 200 mixed queries (and per kind), the same
queries as a clerk who is a member of `--member-of` cases (filtered inside the query, as the pages
and the CLI search for a signed-in clerk), and the time to add one more 1,000-segment hearing and find it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript  # noqa: E402
from workbench.store import Store, audit, search  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宇浩凯鹏飞晨瑞嘉欣怡子涵博"
COMPANIES = [
    "华信科技有限公司",
    "东方建设集团",
    "北京远大贸易有限公司",
    "上海恒通物流有限公司",
    "深圳海润电子有限公司",
    "京东商贸有限公司",
    "新华印刷厂",
    "中联重工股份有限公司",
    "天成房地产开发有限公司",
    "Acme Trading Ltd.",
]
CAUSES = [
    "买卖合同纠纷",
    "民间借贷纠纷",
    "劳动争议",
    "房屋租赁合同纠纷",
    "机动车交通事故责任纠纷",
    "建设工程施工合同纠纷",
    "侵害商标权纠纷",
    "离婚纠纷",
    "股权转让纠纷",
    "盗窃罪",
]
ITEMS = ["货款", "借款本金", "租金", "工资", "违约金", "医疗费", "工程款", "股权转让款", "服务费", "赔偿金"]
EVIDENCE = [
    "购销合同",
    "转账记录",
    "微信聊天记录",
    "送货单",
    "借条",
    "收据",
    "鉴定意见书",
    "监控录像",
    "发票",
    "租赁合同",
]
ZH = [
    "现在开庭。请原告陈述诉讼请求及事实和理由。",
    "请被告就原告的诉讼请求进行答辩。",
    "原告请求判令被告支付{item}人民币{money}元及逾期利息。",
    "被告对{ev}的真实性有异议，认为该{ev}并非本人签字。",
    "我方提交证据{n}：{ev}，证明双方于{date}签订了合同。",
    "{name}当时在{company}担任财务经理，负责支付{item}。",
    "审判长，我方申请证人{name}出庭作证。",
    "证人{name}，你与本案当事人是什么关系？",
    "根据《中华人民共和国民法典》第{n}条的规定，被告应当承担违约责任。",
    "双方对{date}之前的{item}数额没有争议，争议焦点在于{ev}是否有效。",
    "被告代理人认为原告主张的{item}计算方式错误，应当以{money}元为准。",
    "书记员，请将{ev}原件交由被告质证。",
    "对于证据{n}的关联性，我方不予认可。",
    "本庭休庭十分钟，下午两点继续开庭。",
    "原告是否同意调解？如果同意，调解方案是什么？",
    "被告{name}是否到庭？被告缺席，本院依法缺席审理。",
    "鉴定人{name}，请说明鉴定意见书的结论及依据。",
    "{company}与{company2}之间存在长期业务往来。",
    "我方认为本案已过诉讼时效，请求驳回原告的全部诉讼请求。",
    "公诉人：被告人{name}于{date}在{place}盗窃他人财物，价值{money}元。",
]
EN = [
    "The witness confirmed that Exhibit {ex} was signed on {date_en}.",
    "Objection, Your Honor, the question calls for speculation.",
    "Counsel for the defendant submits that the contract was terminated by mutual agreement.",
    "The shipment arrived in {place_en} with {n} damaged containers according to the inspection report.",
    "Please state your name and occupation for the record.",
    "The invoice from {company} lists a total of {money} RMB including VAT.",
    "We move to admit the email correspondence as Exhibit {ex}.",
    "The plaintiff alleges breach of contract and seeks damages of {money} yuan.",
]
MIXED = [
    "原告提交的 invoice 编号为 INV-{n}，金额{money}元。",
    "被告的 WeChat 账号与{name}的手机号码绑定。",
    "这份 email 是{date}发送给{company}的，附件是 Exhibit {ex}。",
    "根据 PDF 版本的{ev}，签字日期为{date}。",
]
PLACES = ["朝阳区", "海淀区", "浦东新区", "天河区", "南山区", "西湖区"]
PLACES_EN = ["Tianjin", "Shanghai", "Rotterdam", "Hamburg", "Singapore"]
ROLES = ["审判长", "书记员", "原告", "被告", "代理人", "证人", "审判员", "鉴定人"]


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def sentence(rng: random.Random) -> str:
    r = rng.random()
    pool = ZH if r < 0.75 else EN if r < 0.9 else MIXED
    d = datetime(2021, 1, 1) + timedelta(days=rng.randrange(1500))
    return rng.choice(pool).format(
        item=rng.choice(ITEMS),
        money=rng.choice((f"{rng.randrange(1, 999) * 1000}", f"{rng.randrange(1000, 999999)}")),
        ev=rng.choice(EVIDENCE),
        n=rng.randrange(1, 1300),
        date=f"{d.year}年{d.month}月{d.day}日",
        date_en=d.strftime("%B %d, %Y"),
        name=person(rng),
        company=rng.choice(COMPANIES),
        company2=rng.choice(COMPANIES),
        place=rng.choice(PLACES),
        place_en=rng.choice(PLACES_EN),
        ex=f"{rng.choice('ABCDEFGH')}-{rng.randrange(1, 40)}",
    )


def transcript(rng: random.Random, segments: int, tag: str = "") -> Transcript:
    speakers = [f"S{i}" for i in range(1, rng.randrange(3, 7) + 1)]
    segs, t = [], 0.0
    for i in range(segments):
        text = sentence(rng)
        if rng.random() < 0.3:
            text += sentence(rng)
        if tag and i == segments // 2:
            text = f"{text}{tag}"
        dur = 1.5 + len(text) * 0.12
        segs.append(Segment(round(t, 2), round(t + dur, 2), text, rng.choice(speakers)))
        t += dur + rng.random()
    return Transcript(
        file="bench.wav",
        sha256="0" * 64,
        duration=t,
        language="zh",
        engine=EngineInfo("whisper", "bench"),
        segments=segs,
        speakers=[SpeakerSummary(s, 0.0, 0.0) for s in speakers],
    )


def fill(store: Store, hearings: int, segments: int, seed: int, n_cases: int) -> tuple[float, float]:
    """Stores the hearings; returns (ingest seconds, sort seconds)."""
    rng = random.Random(seed)
    cases = []
    for i in range(n_cases):
        number = f"（{2023 + i % 3}）京0105民初{1000 + i}号"
        cases.append(store.add_case(number, cause=CAUSES[i % len(CAUSES)], actor=audit.SYSTEM).id)
    started = time.perf_counter()
    for h in range(hearings):
        when = datetime(2023, 1, 2, 9) + timedelta(days=(h * 1095) // max(hearings, 1), hours=h % 5)
        hid = store.add_hearing(cases[h % len(cases)], starts_at=when, courtroom=f"第{h % 12 + 1}法庭")
        tr = transcript(rng, segments)
        store.save_transcript(hid, tr)
        with store.writing() as con:
            for j, spk in enumerate(tr.speakers or []):
                con.execute(
                    "UPDATE speakers SET role = ?, name = ? WHERE hearing_id = ? AND label = ?",
                    [ROLES[j % len(ROLES)], person(rng), hid, spk.id],
                )
        if (h + 1) % 100 == 0:
            print(f"  {h + 1} hearings stored, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    search.optimize(store, force=True)
    return ingest, time.perf_counter() - started


def queries(seed: int, store: Store) -> list[tuple[str, str, dict]]:
    """200 queries: 60 one word, 50 several words, 50 exact phrases, 40 with filters."""
    rng = random.Random(seed + 1)
    one = [
        "原告",
        "证人",
        "违约金",
        "鉴定意见书",
        "转账记录",
        "Exhibit",
        "invoice",
        "contract",
        "盗窃",
        "诉讼时效",
        "民法典",
        "调解",
        "Rotterdam",
        "WeChat",
        "工程款",
        "驳回",
        "speculation",
        "缺席",
        "质证",
        "利息",
    ]
    several = [
        "原告 违约金",
        "被告 借条 真实性",
        "breach of contract damages",
        "证人 出庭作证",
        "支付 货款 利息",
        "鉴定人 结论",
        "invoice VAT",
        "微信聊天记录 签字",
        "诉讼时效 驳回",
        "合同 终止 agreement",
    ]
    phrases = [
        '"微信聊天记录"',
        '"breach of contract"',
        '"诉讼时效"',
        '"Exhibit B-12"',
        '"缺席审理"',
        '"逾期利息"',
        '"mutual agreement"',
        '"担任财务经理"',
        '"证据3"',
        '"长期业务往来"',
    ]
    with store.reading() as con:
        names = [
            r[0] for r in con.execute("SELECT DISTINCT name FROM speakers WHERE name IS NOT NULL LIMIT 200").fetchall()
        ]
        numbers = [r[0] for r in con.execute("SELECT number FROM cases ORDER BY id").fetchall()]
    out: list[tuple[str, str, dict]] = []
    out += [("one word", rng.choice(one), {}) for _ in range(60)]
    out += [("several words", rng.choice(several), {}) for _ in range(50)]
    out += [("exact phrase", rng.choice(phrases), {}) for _ in range(50)]
    for i in range(40):
        q = rng.choice(one + several + phrases)
        kind = i % 4
        if kind == 0:
            f = {"case": rng.choice(numbers)}
        elif kind == 1:
            y = rng.choice((2023, 2024, 2025))
            f = {"date_from": datetime(y, 3, 1).date(), "date_to": datetime(y, 5, 31).date()}
        elif kind == 2:
            f = {"role": rng.choice(("原告", "被告", "证人", "审判长"))}
        else:
            f = {"speaker": rng.choice(names) if names else "S1"}
        out.append(("with filters", q, f))
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearings", type=int, default=1000)
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=50, help="cases the hearings are spread over")
    ap.add_argument("--member-of", type=int, default=2, help="cases the clerk of the filtered run is a member of")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", type=Path, default=ROOT / "data" / "bench" / "search.duckdb")
    ap.add_argument("--reuse", action="store_true", help="query an existing database instead of building it")
    args = ap.parse_args()

    load = os.getloadavg()
    if not args.reuse:
        for p in (args.db, args.db.with_suffix(".duckdb.wal")):
            p.unlink(missing_ok=True)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(args.db)
    ingest = sort = float("nan")
    if not args.reuse:
        ingest, sort = fill(store, args.hearings, args.segments, args.seed, args.cases)
    with store.reading() as con:
        n_seg = con.execute("SELECT count(*) FROM segments").fetchone()[0]
        n_post = con.execute("SELECT count(*) FROM postings").fetchone()[0]
        con.execute("CHECKPOINT")
    size = args.db.stat().st_size

    qs = queries(args.seed, store)
    search.prepare()  # jieba's dictionary, as the server loads it at start
    # Warm-up, as a server that has answered a few searches: one query of each kind (the first
    # touches of the tables and the file are timed apart).
    t = time.perf_counter()
    firsts = {}
    for kind, q, f in qs:
        if kind not in firsts:
            t = time.perf_counter()
            search.search(store, q, limit=20, **f, include_sealed=True)
            firsts[kind] = (time.perf_counter() - t) * 1000
    times: dict[str, list[float]] = {}
    cpu: list[float] = []  # CPU time of this process per query: what the query costs without other load
    empty = 0
    for kind, q, f in qs:
        c = time.process_time()
        t = time.perf_counter()
        hits = search.search(store, q, limit=20, **f, include_sealed=True)
        times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        empty += not hits
    every = [x for v in times.values() for x in v]

    # The clerk's view: the same queries, restricted to the cases the clerk is a member of.
    member_of = frozenset(c.id for c in store.cases()[: args.member_of])
    allowed = {h.id for h in store.hearings() if h.case_id in member_of}
    clerk: list[float] = []
    clerk_hits = 0
    for _, q, f in qs:
        t = time.perf_counter()
        hits = search.search(store, q, limit=20, case_ids=member_of, **f, include_sealed=True)
        clerk.append((time.perf_counter() - t) * 1000)
        clerk_hits += len(hits)
        assert all(h.hearing_id in allowed for h in hits), "a hit from a case the clerk is not a member of"

    # One more hearing through the worker's path, then search for a term only it contains.
    case = store.cases()[0].id
    t = time.perf_counter()
    hid = store.add_hearing(case, starts_at=datetime(2025, 12, 1, 9))
    tag = f"tagq{hid}x"  # a word only this hearing has
    tr = transcript(random.Random(args.seed + hid), 1000, tag=f" {tag} 特别标记")
    store.save_transcript(hid, tr)
    save_s = time.perf_counter() - t
    found = search.search(store, tag, limit=5, include_sealed=True)
    add_s = time.perf_counter() - t
    assert found and found[0].hearing_id == hid, "the new hearing was not found"

    print()
    print(
        f"search benchmark: {args.hearings} hearings in {len(store.cases())} cases x {args.segments} segments, "
        f"seed {args.seed}"
    )
    end_load = os.getloadavg()
    print(
        f"load average (1/5/15 min) at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end "
        f"{end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}; {os.cpu_count()} CPUs"
    )
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| segments | {n_seg:,} |")
    print(f"| postings rows | {n_post:,} |")
    print(f"| index build: store hearings (tokenize + insert) | {ingest:.1f} s |")
    print(f"| index build: sort postings (optimize) | {sort:.1f} s |")
    print(f"| database size | {size / 1e6:.0f} MB |")
    print(f"| queries | {len(every)} ({empty} with no hit) |")
    print(f"| latency median | {statistics.median(every):.1f} ms |")
    print(f"| latency p95 | {pct(every, 95):.1f} ms |")
    print(f"| latency max | {max(every):.1f} ms |")
    print(f"| CPU time per query median / p95 | {statistics.median(cpu):.1f} / {pct(cpu, 95):.1f} ms |")
    print(f"| first query of each kind (cold) | {', '.join(f'{k} {v:.0f} ms' for k, v in firsts.items())} |")
    for kind, v in times.items():
        print(f"| {kind} ({len(v)}): median / p95 | {statistics.median(v):.1f} / {pct(v, 95):.1f} ms |")
    print(
        f"| a clerk of {len(member_of)} cases, same {len(clerk)} queries: median / p95 | "
        f"{statistics.median(clerk):.1f} / {pct(clerk, 95):.1f} ms ({clerk_hits} hits, all in their cases) |"
    )
    print(f"| add a 1,000-segment hearing (store) | {save_s * 1000:.0f} ms |")
    print(f"| add it and find it by search | {add_s * 1000:.0f} ms |")
    store.close()


if __name__ == "__main__":
    main()
