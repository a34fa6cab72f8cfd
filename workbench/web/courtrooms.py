"""The pages' pieces for courtroom profiles and case rosters (issue 17).

- `profiles_admin`: the system page's section, for admins: the profiles, a form to set one, delete.
- `roster_editor` + `save_roster`: the upload page's small table (role, name, seat) entered with the batch.
- `profile_offer`: a hearing whose recording has several channels and whose courtroom has no profile: an admin
  hears each channel's 10-second sample, picks the seat and role of each, saves them as the courtroom's profile and
  queues the hearing again (transcribed channel by channel this time), or saves the profile only; a re-run that
  would replace someone's edits or sign-off marks needs a confirmation first (`save_offer` checks everything before
  it writes). Anyone else is told to ask an admin.

Who may is checked here again, as the store's callers do (`Access`): the pages hide what a role may not do, and the
checks hold if a page is run without its navigation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st

from workbench.accounts import Access, Forbidden
from workbench.api.courtrooms import may_edit_roster, require_edit_roster
from workbench.display import md_escape
from workbench.speech.seats import DEFAULT_SEAT, IGNORE, MIX, SEATS, SeatsError, channels_spec, parse_channels
from workbench.store import ROLES, Hearing, Locked, StoreError, audit, jobs
from workbench.store.courtrooms import (
    COURTROOM_MAX,
    PERSON_MAX,
    ROSTER_MAX,
    SEAT_MAX,
    BadEntry,
    Courtroom,
    Participant,
    check_participant,
    courtroom_name,
)
from workbench.store.status import HearingStatus
from workbench.store.store import Store
from workbench.web.widgets import error

SAMPLE_S = 10.0
SCAN_S = 300.0  # the samples are looked for in the first five minutes: an hour is not decoded for a preview
SAMPLE_RATE = 16_000
ASK_AN_ADMIN = (
    "这份录音有 {n} 个声道，但法庭“{room}”还没有声道配置，目前按混音处理。请管理员为该法庭配置声道 "
    "(the recording has {n} channels and courtroom {room!r} has no profile, so it was mixed to mono: ask an admin "
    "to set one up)"
)
# what a channel may be: the roles, alone at their usual seat, a shared table, ignored, the room's mix
CHANNEL_CHOICES = (*DEFAULT_SEAT, "原告席:原告+代理人", "被告席:被告+代理人", IGNORE, MIX)
CHANNEL_WORDS = {IGNORE: "- 不使用 (ignore)", MIX: "mix 混音 (the room's mix)"}


# --- samples: no Streamlit -----------------------------------------------------------------------------


def channel_samples(path: Path, seconds: float = SAMPLE_S, scan_s: float = SCAN_S) -> list[np.ndarray]:
    """For each channel of the recording, `seconds` of 16 kHz float32 audio where that channel is loudest within the
    first `scan_s` seconds (a channel's own speaker is louder on it than any neighbour): what the clerk hears to tell
    whose microphone it is. Streamed: one block per channel is kept."""
    from workbench.speech import audio

    best: list[np.ndarray] = []
    loudest: list[float] = []
    scanned = 0.0
    for block in audio.channel_blocks(path, block_seconds=seconds):
        rms = np.sqrt(np.mean(np.square(block, dtype=np.float64), axis=1)) if block.shape[1] else np.zeros(len(block))
        if not best:
            best, loudest = [row.copy() for row in block], [float(r) for r in rms]
        else:
            for c, level in enumerate(rms):
                if level > loudest[c]:
                    best[c], loudest[c] = block[c].copy(), float(level)
        scanned += block.shape[1] / SAMPLE_RATE
        if scanned >= scan_s:
            break
    return best


def recording_channels(store: Store, hearing_id: int) -> tuple[Path, int] | None:
    """The hearing's recording and its channel count; None when it has none or the file cannot be read."""
    from workbench.speech import audio

    recordings = store.recordings(hearing_id)
    if not recordings or not recordings[0].stored_path.exists():
        return None
    try:
        return recordings[0].stored_path, audio.probe(recordings[0].stored_path).channels
    except audio.AudioError:
        return None


# --- the offer -----------------------------------------------------------------------------------------


def offer_needed(store: Store, hearing_id: int) -> tuple[Path, int] | None:
    """The recording and its channel count when the offer applies: several channels, and the hearing's courtroom
    (or the hearing, having none) has no profile."""
    found = recording_channels(store, hearing_id)
    if found is None or found[1] < 2:
        return None
    if store.find_courtroom(store.hearing(hearing_id).courtroom) is not None:
        return None
    return found


@st.cache_data(max_entries=8, show_spinner="正在读取各声道样本… (reading each channel's sample)")
def _samples(path: str, size: int, mtime: float) -> list[np.ndarray]:
    return channel_samples(Path(path))  # size and mtime: a replaced file is read again


RERUN_CONFIRM = "我了解：重新转写将替换现有文本及修改 (re-running replaces the current text and its edits)"
RERUN_BUTTON = "保存配置并重新转写 Save and re-run"
PROFILE_ONLY_BUTTON = "只保存配置 Save profile only"


def rerun_loses_work(store: Store, hearing: Hearing) -> bool:
    """Whether re-running the hearing replaces someone's work: its text was edited by a person (not the worker's own
    filling), or it is in review, checked or approved (a new transcript takes the marks away)."""
    if hearing.status in (HearingStatus.IN_REVIEW, HearingStatus.CHECKED, HearingStatus.APPROVED):
        return True
    return any(e.user != audit.SYSTEM.account for e in store.edits(hearing_id=hearing.id))


def profile_offer(store: Store, access: Access, hearing_id: int, *, expanded: bool = False) -> None:
    """The offer to make a profile from this hearing's multi-channel recording (see the module docstring); nothing
    when it does not apply or the account may not see the hearing. Collapsed unless `expanded` (the upload page
    opens it for the batch just sent; the review page shows it folded on every visit)."""
    try:
        hearing = access.hearing(hearing_id)
    except StoreError:
        return
    found = offer_needed(store, hearing.id)
    if found is None:
        return
    path, count = found
    room = hearing.courtroom.strip()
    if not access.is_admin:
        st.info(ASK_AN_ADMIN.format(n=count, room=room or "（未填写）"), icon=":material/settings_input_component:")
        return
    from workbench.speech.audio import AudioError

    with st.expander(f"为法庭配置声道：这份录音有 {count} 个声道 (make a courtroom profile)", expanded=expanded):
        st.caption(
            "听每个声道的样本，选出它是哪个席位的话筒；保存后这个法庭的录音按声道区分说话人，本次庭审可重新转写 "
            "(listen to each channel, pick whose microphone it is; saved, the hearing can be transcribed again by "
            "channel)"
        )
        try:
            stat = path.stat()
            samples = _samples(str(path), stat.st_size, stat.st_mtime)
        except (AudioError, OSError) as e:  # a damaged or vanished file: the form still works without samples
            st.warning(f"无法读取各声道样本 (could not read the channel samples): {md_escape(str(e))}")
            samples = []
        played = f"profile_offer_played_{hearing.id}"
        if samples and not st.session_state.get(played):  # the samples are the recording: audited once per session
            store.record(access.actor, audit.AUDIO_PLAYED, case_id=hearing.case_id, hearing_id=hearing.id,
                         detail={"profile_offer": True, "channels": count, "seconds": SAMPLE_S})  # fmt: skip
            st.session_state[played] = True
        locked = hearing.status == HearingStatus.LOCKED
        loses_work = not locked and rerun_loses_work(store, hearing)
        with st.form(f"profile_offer_{hearing.id}"):
            name = st.text_input(
                "法庭 Courtroom",
                value=room,
                max_chars=COURTROOM_MAX,
                disabled=bool(room),
                key=f"offer_room_{hearing.id}",
            )
            items = []
            for c in range(count):
                c1, c2 = st.columns([3, 2], vertical_alignment="center")
                if c < len(samples):
                    c1.audio(samples[c], sample_rate=SAMPLE_RATE)
                items.append(
                    c2.selectbox(
                        f"声道 {c + 1} Channel {c + 1}",
                        CHANNEL_CHOICES,
                        index=None,
                        placeholder="角色或 席位:角色 (a role, or SEAT:ROLE)",
                        format_func=lambda x: CHANNEL_WORDS.get(x, x),
                        accept_new_options=True,
                        key=f"offer_channel_{hearing.id}_{c}",
                    )
                )
            confirmed = False
            if locked:
                st.caption(
                    "笔录已锁定：只保存配置，不重新转写 (the record is locked: the profile is saved, not re-run)"
                )
            elif loses_work:
                st.warning(
                    f"本次庭审已有修改或已进入审阅/核对/审批（{hearing.status.label}）：重新转写将替换现有文本，"
                    "核对与审批标记随之撤销 (this hearing has edits or sign-off marks: a re-run replaces them)"
                )
                confirmed = st.checkbox(RERUN_CONFIRM, key=f"offer_confirm_{hearing.id}")
            else:
                st.caption(
                    "重新转写会替换现有文本，修改记录保留在历史中 (re-running replaces the text; edits stay in history)"
                )
            c1, c2 = st.columns(2)
            rerun = False if locked else c1.form_submit_button(RERUN_BUTTON, type="primary")
            profile_only = c2.form_submit_button(PROFILE_ONLY_BUTTON, type="secondary" if not locked else "primary")
            if rerun and loses_work and not confirmed:
                st.error(
                    "请先勾选确认重新转写，或只保存配置 (tick the confirmation to re-run, or save the profile only)"
                )
            elif rerun or profile_only:
                _save_offer(store, access, hearing.id, room or name, items, rerun=rerun)


@dataclass(frozen=True, slots=True)
class OfferSaved:
    """What the offer did: the profile saved, and the job queued for the re-run (None: not re-run)."""

    profile: Courtroom
    job_id: int | None


def save_offer(
    store: Store, access: Access, hearing_id: int, name: str, items: Sequence[str | None], *, rerun: bool
) -> OfferSaved:
    """Saves the channel map `items` as courtroom `name`'s profile and, with `rerun`, queues the hearing again.

    Everything that can be refused is checked before the profile is written, so a refusal leaves nothing half done:
    an account that is not an admin (`Forbidden`), a map that cannot be read (`SeatsError`), a bad courtroom name
    (`BadEntry`), a re-run of a locked record (`Locked`). A hearing without a courtroom gets this one when it is
    re-run (the worker finds the profile by the hearing's courtroom); a profile-only save changes the hearing not at
    all (setting its courtroom would be a change to its record).
    """
    access.require_admin()
    if any(not (i or "").strip() for i in items):
        raise SeatsError("请为每个声道选择席位或“不使用” (pick a seat, or ignore, for every channel)")
    seats = parse_channels([str(i) for i in items])
    room = courtroom_name(name)
    hearing = store.hearing(hearing_id)
    if rerun and hearing.status == HearingStatus.LOCKED:
        raise Locked(
            f"庭审 {hearing_id} 的笔录已锁定，不能重新转写；可只保存配置 (hearing {hearing_id}'s record is locked: it "
            "cannot be re-run; save the profile only)"
        )
    profile = store.set_courtroom(room, channels_spec(seats), actor=access.actor)
    if not rerun:
        return OfferSaved(profile, None)
    if not hearing.courtroom.strip():  # the profile is found by the hearing's courtroom from now on
        store.update_hearing(hearing_id, courtroom=profile.name, actor=access.actor)
    return OfferSaved(profile, requeue(store, access, hearing_id))


def _save_offer(
    store: Store, access: Access, hearing_id: int, name: str, items: Sequence[str | None], *, rerun: bool
) -> None:
    try:
        saved = save_offer(store, access, hearing_id, name, items, rerun=rerun)
    except (SeatsError, StoreError, Forbidden) as e:
        error(e)
        return
    done = f"已保存法庭“{md_escape(saved.profile.name)}”的声道配置"
    if saved.job_id is not None:
        done += f"，庭审已重新排队（任务 {saved.job_id}）"
    elif rerun:
        done += "，排队中的任务将按声道处理 (the queued job will use it)"
    st.success(done)


def requeue(store: Store, access: Access, hearing_id: int) -> int | None:
    """Queues the hearing again with its last job's options, leaving the channels to the courtroom's profile (the
    worker applies it when the job starts); returns the new job's id.

    None when its latest job is still queued: that job has not started, so it meets the profile itself. A running
    one started without the profile, so a new job is queued after it (the worker takes them in order)."""
    previous = jobs.jobs(store, hearing_id=hearing_id, limit=1)
    if previous and previous[0].state == jobs.JobState.QUEUED:
        return None
    options = replace(previous[0].options, channels=()) if previous else None
    return jobs.enqueue(store, hearing_id, options, actor=access.actor)


# --- the system page's section -------------------------------------------------------------------------


def profiles_admin(store: Store, access: Access) -> None:
    """The courtroom profiles, and (admins) a form to set one and a button to delete one."""
    profiles = store.courtrooms()
    if profiles:
        st.dataframe(
            [{"法庭": p.name, "声道数": len(p.channels), "声道": "，".join(p.channels), "修改人": p.updated_by,
              "修改时间": f"{p.updated_at:%Y-%m-%d %H:%M}"} for p in profiles],
            hide_index=True, width="stretch",
        )  # fmt: skip
    else:
        st.info("还没有法庭声道配置。多声道录音按混音处理。(no courtroom profiles: multi-channel files are mixed)")
    if not access.is_admin:
        return
    with st.form("courtroom_profile"):
        st.markdown("**设置法庭声道 Set a courtroom profile**")
        c1, c2 = st.columns([1, 3])
        name = c1.text_input("法庭 Courtroom", max_chars=COURTROOM_MAX, placeholder="第三法庭", key="profile_name")
        channels = c2.text_input(
            "声道 Channels", max_chars=1000, placeholder="审判长,原告,被告,-", key="profile_channels",
            help="按声道顺序，逗号分隔：角色（审判长）、席位:角色（原告席:原告）、"
            "共用席位（原告席:原告+代理人）、- 不使用、mix 混音",
        )  # fmt: skip
        if st.form_submit_button("保存 Save", type="primary"):
            _set_profile(store, access, name, channels)
    if profiles:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        gone = c1.selectbox("删除配置 Delete a profile", [p.name for p in profiles], index=None, key="profile_delete")
        if c2.button("删除", disabled=gone is None, key="profile_delete_button") and gone is not None:
            try:
                access.require_admin()
                store.delete_courtroom(gone, actor=access.actor)
            except (StoreError, Forbidden) as e:
                error(e)
            else:
                st.success(f"已删除法庭“{md_escape(gone)}”的声道配置")
                st.rerun()


def _set_profile(store: Store, access: Access, name: str, channels: str) -> Courtroom | None:
    try:
        access.require_admin()
        profile = store.set_courtroom(name, channels, actor=access.actor)
    except (SeatsError, StoreError, Forbidden) as e:
        error(e)
        return None
    st.success(f"已保存法庭“{md_escape(profile.name)}”：{md_escape('，'.join(profile.channels))}")
    return profile


# --- the upload page's roster ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RosterRow:
    role: str
    name: str
    seat: str = ""


def roster_editor(key: str, known: Sequence[Participant] = ()) -> list[RosterRow]:
    """The small table of who takes part (role, name, seat), rows added and removed in place; the rows filled in.
    `known`: the case's roster so far, shown above (it is added to, not replaced)."""
    if known:
        st.caption("本案名单：" + "、".join(md_escape(p.display()) for p in known))
    edited = st.data_editor(
        [{"角色": None, "姓名": None, "席位": None}],
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "角色": st.column_config.SelectboxColumn("角色 Role", options=list(ROLES)),
            "姓名": st.column_config.TextColumn("姓名 Name", max_chars=PERSON_MAX),
            "席位": st.column_config.SelectboxColumn("席位 Seat", options=list(SEATS)),
        },
    )
    rows = []
    for r in edited:
        role, name, seat = (str(r.get(k) or "").strip() for k in ("角色", "姓名", "席位"))
        if role or name:
            rows.append(RosterRow(role, name, seat[:SEAT_MAX]))
    return rows


def check_roster(rows: Sequence[RosterRow], known: Sequence[Participant] = ()) -> None:
    """Before anything is submitted, what `Store.add_participants` would refuse: ValueError naming the first row
    without a role or a name, with a field too long or a control character (`check_participant`), or a roster
    (`known`, the case's so far, and the new rows) of more than ROSTER_MAX people."""
    entries = set()
    for i, row in enumerate(rows, 1):
        try:
            entries.add(check_participant(row.role, row.name, row.seat))
        except BadEntry as e:
            raise BadEntry(f"名单第 {i} 行 (roster row {i}): {e}") from None
    there = {(p.role, p.name, p.seat) for p in known}
    total = len(there | entries)
    if total > ROSTER_MAX:
        raise BadEntry(
            f"名单最多 {ROSTER_MAX} 人，加上本次的 {len(entries - there)} 人共 {total} 人 "
            f"(a roster has at most {ROSTER_MAX} people; with these rows it would have {total})"
        )


def save_roster(store: Store, access: Access, case_id: int, rows: Sequence[RosterRow]) -> int:
    """Adds the rows to the case's roster in one transaction (each audited; all or none); a row already there is
    skipped. Returns how many were added; raises StoreError (a bad row: BadEntry; too many: Conflict) or Forbidden
    (a viewer)."""
    require_edit_roster(access, case_id)
    added = store.add_participants(case_id, [(r.role, r.name, r.seat) for r in rows], actor=access.actor)
    return len(added)


__all__ = [
    "OfferSaved", "RosterRow", "channel_samples", "check_roster", "may_edit_roster", "offer_needed", "profile_offer",
    "profiles_admin", "requeue", "rerun_loses_work", "roster_editor", "save_offer", "save_roster",
]  # fmt: skip
