"""检索: keyword search across hearings; each hit opens its hearing at that moment and plays it.

The clerk's stage marks and log notes whose text matches are listed first (a few a hearing: the 法庭调查 or the
exhibit the query names), each with its hearing and time and a link to the review page there; a note in a
sealed part is left out for an account that may not see sealed text, as a sealed segment is.
"""

import time

import streamlit as st

from workbench.display import clock, highlight, md_escape
from workbench.store import ROLES, audit, search
from workbench.web import nav, session
from workbench.web.pagedata import NAME_MAX, QUERY_MAX

me = session.signed_in()
store = me.access.store

st.title("检索")
st.caption('Search · 多个词按相关度排序；用引号 "…" 查找完整短语；修改后的文本立即可检索')

with st.form("search_form", border=False):
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    query = c1.text_input("关键词 Query", key="q", max_chars=QUERY_MAX, placeholder='例如：借款合同  或  "不当得利"')
    c2.form_submit_button("检索", type="primary", icon=":material/search:", width="stretch")
    with st.expander("筛选 Filters", expanded=False):
        f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
        case = f1.selectbox(
            "案号", [c.number for c in me.access.cases()], index=None, placeholder="全部案件", key="s_case"
        )
        dates = f2.date_input("开庭日期", value=(), key="s_dates")
        role = f3.selectbox("角色", list(ROLES), index=None, placeholder="全部角色", key="s_role")
        speaker = f4.text_input("说话人", placeholder="姓名或 S1", max_chars=NAME_MAX, key="s_speaker")
        original = st.checkbox("检索原始识别文本（而非修改后的文本）", key="s_original")

if not (query or "").strip():
    st.info("输入关键词开始检索，可按案号、日期、角色筛选。")
    st.stop()

# 20 results at a time: each is a bordered card with a link, and Chromium on a 2-core machine took up to
# 1.3 s to draw 50 of them (bench/ui.py); "more" adds 20 (the search itself takes a few ms either way).
PAGE = 20
NOTES_SHOWN = 10  # notes matching: the first ten, by how many of the words they hold, newest hearing first
search_key = (me.account.name, query, case, tuple(dates), role, speaker, original)
new_search = st.session_state.get("s_key") != search_key
if new_search:
    st.session_state["s_key"], st.session_state["s_shown"] = search_key, PAGE
shown = int(st.session_state["s_shown"])

date_from = dates[0] if len(dates) >= 1 else None
date_to = dates[1] if len(dates) == 2 else date_from
t0 = time.perf_counter()
hits = search.search(
    store,
    query,
    case=case,
    date_from=date_from,
    date_to=date_to,
    role=role,
    speaker=speaker.strip() or None,
    limit=shown + 1,
    original=original,
    case_ids=me.access.case_ids(),  # inside the query: counts and snippets of other cases never reach here
    include_sealed=me.access.account.role.may_see_sealed,  # a viewer never finds a sealed part's text
)
# Notes carry no speaker and no recognition: a speaker or role filter, or the recognition's text, finds none.
note_hits: list[search.NoteHit] = []
if not (original or role or (speaker or "").strip()):
    note_hits = search.search_notes(
        store,
        query,
        case=case,
        date_from=date_from,
        date_to=date_to,
        limit=NOTES_SHOWN + 1,
        case_ids=me.access.case_ids(),
        include_sealed=me.access.account.role.may_see_sealed,
    )
elapsed = time.perf_counter() - t0
if new_search:  # once per search, not per "show more"
    store.record(
        me.actor,
        audit.SEARCHED,
        detail={"query": query, "case": case, "role": role, "speaker": speaker, "original": original,
                "dates": [str(d) for d in dates], "hits": len(hits), "notes": len(note_hits)},
    )  # fmt: skip
more = len(hits) > shown
hits = hits[:shown]
st.caption(f"{len(hits)}{'+' if more else ''} 条结果 · {elapsed * 1000:.0f} ms")
if not hits and not note_hits:
    st.warning("没有找到。可以换一个词，或去掉筛选条件。")

NOTE_KINDS_SHOWN = {"stage": "阶段", "note": "笔记", "recess": "休庭"}
if note_hits:
    more_notes = len(note_hits) > NOTES_SHOWN
    st.markdown(f"**庭审阶段与笔记 Stages & notes**（{min(len(note_hits), NOTES_SHOWN)}{'+' if more_notes else ''}）")
    for note in note_hits[:NOTES_SHOWN]:
        with st.container(border=True):
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            day = note.hearing_start[:10] if note.hearing_start else ""
            span = clock(note.at) + (f"—{clock(note.end)}" if note.end is not None else "")
            c1.markdown(
                f"<div style='font-size:0.85em;color:#5f6368'>{md_escape(note.case_number)} · {md_escape(day)} · "
                f"庭审 #{note.hearing_id} · {span} · {NOTE_KINDS_SHOWN.get(note.kind, note.kind)}</div>"
                f"<div style='margin-top:2px' data-testid='wbNoteHit'>{highlight(note.snippet, note.marks)}</div>",
                unsafe_allow_html=True,
            )
            c2.page_link(
                nav.REVIEW.path,
                label=f"▶ {clock(note.at)}",
                query_params={"hearing": note.hearing_id, "t": f"{note.at:.2f}"},
                help="打开庭审并从此处播放",
            )

for hit in hits:
    with st.container(border=True):
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        who = hit.who or "未分配"
        day = hit.hearing_start[:10] if hit.hearing_start else ""
        c1.markdown(
            f"<div style='font-size:0.85em;color:#5f6368'>{md_escape(hit.case_number)} · {md_escape(day)} · "
            f"庭审 #{hit.hearing_id} · {clock(hit.start)} · {md_escape(who)}"
            f"{' · 已修改' if hit.edited else ''}</div>"
            f"<div style='margin-top:2px'>{highlight(hit.snippet, hit.marks)}</div>",
            unsafe_allow_html=True,
        )
        c2.page_link(
            nav.REVIEW.path,
            label=f"▶ {clock(hit.start)}",
            query_params={"hearing": hit.hearing_id, "t": f"{hit.start:.2f}"},
            help="打开庭审并从此处播放",
        )

if more:
    st.button(
        f"显示更多（再 {PAGE} 条）",
        icon=":material/expand_more:",
        on_click=lambda: st.session_state.update({"s_shown": shown + PAGE}),
    )
