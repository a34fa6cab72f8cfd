"""Streamlit pieces that draw the workbench's own types: a hearing's status as a badge."""

from __future__ import annotations

import streamlit as st

from workbench.store.status import HearingStatus

STATUS_COLORS = {
    HearingStatus.QUEUED: "gray",
    HearingStatus.PROCESSING: "blue",
    HearingStatus.TRANSCRIBED: "violet",
    HearingStatus.IN_REVIEW: "orange",
    HearingStatus.VERIFIED: "green",
    HearingStatus.FAILED: "red",
}


def status_badge(status: str | HearingStatus) -> None:
    """The hearing's status as a coloured badge with its Chinese label."""
    known = HearingStatus(status)
    st.badge(known.label, color=STATUS_COLORS[known])  # type: ignore[arg-type]
