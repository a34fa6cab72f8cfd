"""The review page's stage marks and log notes: the list with its add, edit and delete forms (`notes_box`), and
their layer on the timeline chart (`notes_layer`).

Both show the notes as the account may see them (`shown_notes`: a note in a sealed part has the placeholder for
text, for an account that may not see sealed text). Writes go through the store after the page's own check
(`Access.require_edit`); the store refuses a locked record's. The desk (`desk_component`) marks stages and
notes by key and draws them between its rows; it reads them again on each page run, so a note added here shows
there at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import altair as alt
import pandas as pd
import streamlit as st

from workbench.display import SEALED_PLACEHOLDER, clock, md_escape, parse_clock
from workbench.speech.transcript import NOTE_KINDS, STAGES
from workbench.store import StoreError
from workbench.store.notes import KIND_WORDS, NOTE_TEXT_MAX, STAGE_MAX, StoredNote
from workbench.web.widgets import error

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.store import Hearing, Store

KIND_LABELS = {"stage": "阶段 Stage", "note": "笔记 Note", "recess": "休庭 Recess"}
# stage marks in the primary colour, notes grey, recesses amber (the timeline's speakers use tableau10)
KIND_COLOURS = {"stage": "#1f4e9c", "note": "#6b7280", "recess": "#b45309"}


class Timed(Protocol):
    """What the timeline needs of a note: a `StoredNote` or the shared `LogNote`."""

    kind: str
    at: float
    end: float | None
    text: str


def shown_notes(access: Access, hearing: Hearing) -> list[StoredNote]:
    """The hearing's notes by time as this account may see them: a sealed one's text is the placeholder for an
    account that may not see sealed text (a viewer), as the API shows it."""
    notes = access.store.notes(hearing.id)
    if not notes or access.may_see_sealed(hearing.case_id):
        return notes
    sealed = access.store.sealed_note_ids(hearing.id)
    return [replace(n, text=SEALED_PLACEHOLDER) if n.id in sealed else n for n in notes]


def next_stage(notes: Sequence[Timed], at: float) -> str:
    """The stage a clerk most likely marks at `at`: the one after the last stage marked before it (STAGES' order),
    the first when none is."""
    before = [n.text for n in notes if n.kind == "stage" and n.at <= at]
    if before and before[-1] in STAGES:
        return STAGES[min(STAGES.index(before[-1]) + 1, len(STAGES) - 1)]
    return STAGES[0] if not before else STAGES[1]


def note_rows(notes: Sequence[Timed]) -> list[dict[str, Any]]:
    """The timeline's rows: minutes (as the speakers' bars), the time as words, the kind, a short label."""
    rows = []
    for n in notes:
        end = n.end if n.end is not None else n.at
        label = n.text if n.kind == "stage" else ("休庭" if n.kind == "recess" else "")
        rows.append({
            "start": round(n.at / 60, 4),
            "end": round(end / 60, 4),
            "t": n.at,
            "at": clock(n.at) + (f"—{clock(n.end)}" if n.end is not None else ""),
            "kind": KIND_WORDS.get(n.kind, n.kind),
            "label": label[:12],
            "text": n.text[:80],
        })  # fmt: skip
    return rows


def notes_layer(notes: Sequence[Timed]) -> alt.LayerChart:
    """The notes on the timeline: a rule at each stage mark (labelled with its name) and note (dashed), a shaded
    band over each recess. x is "start" in minutes, as the speakers' bars: layer it with them, e.g.
    `alt.layer(bars, notes_layer(notes)).properties(height=...)`. No notes: an empty layer (draws nothing)."""
    columns = ["start", "end", "t", "at", "kind", "label", "text"]
    data = pd.DataFrame(note_rows(notes), columns=columns)
    words = [KIND_WORDS[k] for k in NOTE_KINDS]
    colour = alt.Color(
        "kind:N", legend=None, scale=alt.Scale(domain=words, range=[KIND_COLOURS[k] for k in NOTE_KINDS])
    )
    tooltip = [alt.Tooltip("at:N", title="时间"), alt.Tooltip("kind:N", title="类型"),
               alt.Tooltip("text:N", title="内容")]  # fmt: skip
    base = alt.Chart(data)
    recess = base.transform_filter(alt.datum.kind == KIND_WORDS["recess"])
    points = base.transform_filter(alt.datum.kind != KIND_WORDS["recess"])
    band = recess.mark_rect(opacity=0.15).encode(x="start:Q", x2="end:Q", color=colour, tooltip=tooltip)
    rules = points.mark_rule(strokeWidth=1.5).encode(
        x="start:Q",
        color=colour,
        strokeDash=alt.condition(alt.datum.kind == KIND_WORDS["note"], alt.value([4, 3]), alt.value([1, 0])),
        tooltip=tooltip,
    )
    labels = (
        base.transform_filter(alt.datum.label != "")
        .mark_text(align="left", baseline="top", dx=3, dy=2, fontSize=11, fontWeight="bold")
        .encode(x="start:Q", y=alt.value(0), text="label:N", color=colour, tooltip=tooltip)
    )
    return alt.layer(band, rules, labels)


def _edit_form(access: Access, hearing: Hearing, note: StoredNote) -> None:
    with st.form(f"note_edit_{note.id}", border=False):
        at = st.text_input("时间 Time", value=clock(note.at), max_chars=12)
        until = st.text_input("至 Until", value=clock(note.end), max_chars=12) if note.kind == "recess" else None
        limit = STAGE_MAX if note.kind == "stage" else NOTE_TEXT_MAX
        text = st.text_input("内容 Text", value=note.text, max_chars=limit)
        if st.form_submit_button("保存 Save", icon=":material/save:"):
            try:
                access.require_edit(hearing.case_id)
                access.store.update_note(
                    note.id, version=note.version, text=text, at=parse_clock(at),
                    end=parse_clock(until) if until is not None else None, actor=access.actor,
                )  # fmt: skip
            except (StoreError, ValueError) as e:
                error(e)
            else:
                st.rerun()


def _add_form(access: Access, hearing: Hearing, notes: Sequence[StoredNote], at_hint: float | None) -> None:
    key = f"note_kind_{hearing.id}"
    kind = st.segmented_control("类型 Kind", list(NOTE_KINDS), format_func=KIND_LABELS.get, default="stage", key=key)
    kind = kind or "stage"
    with st.form(f"note_add_{hearing.id}", border=False, clear_on_submit=True):
        a, b = st.columns(2)
        at = a.text_input("时间 Time", value=clock(at_hint) if at_hint is not None else "", placeholder="00:12:30",
                          max_chars=12)  # fmt: skip
        until = b.text_input("至 Until", placeholder="00:45:00", max_chars=12) if kind == "recess" else None
        if kind == "stage":
            stage = next_stage(notes, at_hint or 0.0)
            text = st.selectbox("阶段 Stage", STAGES, index=STAGES.index(stage), accept_new_options=True)
        else:
            label = "理由 Reason" if kind == "recess" else "笔记 Note"
            text = st.text_input(
                label, max_chars=NOTE_TEXT_MAX, placeholder="出示证据一：借条" if kind == "note" else ""
            )
        if st.form_submit_button("添加 Add", icon=":material/add:"):
            try:
                access.require_edit(hearing.case_id)
                seconds = parse_clock(at)
                end = parse_clock(until) if until else None
                if kind == "stage" and text and len(text) > STAGE_MAX:
                    raise ValueError(f"阶段名称最多 {STAGE_MAX} 字 (a stage's name is at most {STAGE_MAX} characters)")
                access.store.add_note(hearing.id, kind, seconds, text or "", end=end, actor=access.actor)
            except (StoreError, ValueError) as e:
                error(e)
            else:
                st.rerun()


def notes_box(store: Store, access: Access, hearing_id: int, *, at_hint: float | None = None) -> None:
    """庭审阶段与笔记: the hearing's stage marks, notes and recesses by time; for an account that may edit the record
    (and while it is not locked) a form to add one (at `at_hint` seconds, e.g. where the player is) and, per
    note, edit and delete. Nothing for a reader when there are none."""
    hearing = access.hearing(hearing_id)  # NotYours for another case's: the page has said so already
    may_edit = access.may_edit_record(hearing)
    notes = shown_notes(access, hearing)
    if not notes and not may_edit:
        return
    with st.expander(f"庭审阶段与笔记 Stages & notes（{len(notes)}）", key=f"notes_open_{hearing_id}"):
        for note in notes:
            line, edit, drop = st.columns([6, 1, 1], vertical_alignment="center")
            span = clock(note.at) + (f"—{clock(note.end)}" if note.end is not None else "")
            words = f"**{md_escape(note.text)}**" if note.kind == "stage" else md_escape(note.text)
            line.markdown(f"`{span}` · {KIND_WORDS.get(note.kind, note.kind)} · {words} · {md_escape(note.created_by)}")
            if not may_edit:
                continue
            with edit.popover("修改", icon=":material/edit:"):
                _edit_form(access, hearing, note)
            if drop.button("删除", key=f"note_delete_{note.id}", icon=":material/delete:"):
                try:
                    access.require_edit(hearing.case_id)
                    store.delete_note(note.id, hearing_id=hearing.id, actor=access.actor)
                except StoreError as e:
                    error(e)
                else:
                    st.rerun()
        if not notes:
            st.caption(
                "还没有阶段或笔记；在笔录中按 s 标记阶段、按 l 添加笔记 "
                "(none yet: in the desk, s marks a stage, l adds a note)"
            )
        if may_edit:
            _add_form(access, hearing, notes, at_hint)
