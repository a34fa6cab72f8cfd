"""The review page's voice box: names proposed for a hearing's speakers from the same case's other hearings,
each confirmed with one click or declined (`workbench.store.voices`). Nothing is named without the click.

The lead puts `voices_box(store, access, hearing_id)` on the review page; it draws nothing when there is no
proposal, or when this account may not edit the record now (a viewer, a locked record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from workbench.display import md_escape
from workbench.store.records import StoreError
from workbench.store.voices import VoiceProposal

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.store import Store


def hearing_ordinals(store: Store, case_id: int) -> dict[int, int]:
    """Hearing id -> its place in the case (1 for the first), by start time (else when it was added), then id."""
    hearings = store.hearings(case_ids=[case_id])
    ordered = sorted(hearings, key=lambda h: (h.starts_at or h.created_at, h.id))
    return {h.id: i for i, h in enumerate(ordered, start=1)}


def proposal_text(p: VoiceProposal, ordinals: dict[int, int]) -> str:
    """ "S3 可能是原告张三（第1次庭审） 相似度 0.82" """
    where = f"第{ordinals[p.from_hearing]}次庭审" if p.from_hearing in ordinals else f"庭审 #{p.from_hearing}"
    return f"{p.label} 可能是{p.display()}（{where}） 相似度 {p.similarity:.2f}"


def voices_box(store: Store, access: Access, hearing_id: int) -> None:
    """Each proposal with a confirm and a decline button; nothing when none (or when this account may not edit)."""
    hearing = access.hearing(hearing_id)  # another case's hearing: NotYours, as everywhere
    if not access.may_edit_record(hearing):
        return
    proposals = store.voice_proposals(hearing.id)
    if not proposals:
        return
    ordinals = hearing_ordinals(store, hearing.case_id)
    st.caption("本案其他庭审中听到的声音，确认后才命名说话人 (voices from this case's other hearings: named only when "
               "confirmed)")  # fmt: skip
    for p in proposals:
        key = f"voice_{hearing.id}_{p.label}_{p.from_hearing}_{p.from_label}"
        with st.container(border=True):
            text, ok, no = st.columns([6, 1, 1], vertical_alignment="center")
            text.markdown(md_escape(proposal_text(p, ordinals)))
            accept = ok.button("确认", key=f"{key}_accept", type="primary", help="命名这位说话人 (name the speaker)")
            decline = no.button("不是", key=f"{key}_decline", help="不再推荐 (do not propose again)")
        if not (accept or decline):
            continue
        try:
            if accept:
                store.accept_voice(hearing.id, p.label, p.from_hearing, p.from_label, actor=access.actor)
            else:
                store.decline_voice(hearing.id, p.label, p.from_hearing, p.from_label, actor=access.actor)
        except StoreError as e:  # locked meanwhile, named by someone else meanwhile
            st.error(md_escape(e))
            return
        st.toast(f"{p.label}: {p.display()}" if accept else f"{p.label}: 不是{p.display()}")
        st.rerun()
