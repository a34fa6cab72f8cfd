"""The review desk: the whole hearing in one keyboard-driven editor with a docked player (`st.components.v2`).

The component's script (`desk_component.js`, a plain ES module: no build step, nothing from a CDN) fetches the
transcript from `GET /api/v1/hearings/{id}/desk` with the browser's session cookie and saves through the API
(`POST /edits` debounced and batched, `/segments/{id}/split|merge`, `/replace`, `PUT /checked`; header
`X-Workbench-Client: browser`), so typing never reruns the page and nothing comes back to Python. Audio is the
session-checked `/audio/{recording_id}?start=S&dur=D` route in aligned 300 s windows.

Stage marks and log notes (`workbench.store.notes`): `s` / `l` (Alt+S / Alt+L also while typing) open a small
box at the audio's current time (the stage box offers the next of `STAGES`; Enter saves it through `POST
/hearings/{id}/notes`, Esc closes); the hearing's marks are drawn in place between the rows (read again on each
page run, so a note added in the page's list shows here too), a click on one plays from it.

`SHORTCUTS` is the one list of key bindings: the desk's `?` sheet draws it, and the README documents it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench.speech.transcript import STAGES
from workbench.store.notes import NOTE_TEXT_MAX, STAGE_MAX
from workbench.web.pagedata import SEGMENT_TEXT_MAX

API_ROOT = "/api/v1"
_HERE = Path(__file__).resolve().parent

# (group, ((keys, what they do), ...)): drawn by the `?` sheet. A USB foot pedal in keyboard mode sends
# F7 (left: back 3 s), F9 (middle: play/pause) and F8 (right: forward 3 s).
SHORTCUTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "任何时候 (anywhere in the desk, also while typing)",
        (
            ("F9 / F4", "播放 / 暂停 (play / pause) — 脚踏板中键 (pedal middle)"),
            ("F7", "后退 3 秒 (back 3 s) — 脚踏板左 (pedal left)"),
            ("F8", "前进 3 秒 (forward 3 s) — 脚踏板右 (pedal right)"),
            ("Shift+F7 / Shift+F8", "减速 / 加速 (slower / faster, 0.5–2.0×)"),
            ("Alt+↓ / Alt+↑", "下一段 / 上一段，音频跟随 (next / previous segment, the audio goes there)"),
            ("Alt+N / Alt+Shift+N", "下一个 / 上一个低置信词，选中即可重打 (next / previous low-confidence word)"),
            ("Ctrl+Z", "撤销已保存的修改 (undo a saved change)"),
            ("Ctrl+Shift+Z / Ctrl+Y", "重做 (redo)"),
            ("Alt+S", "在播放位置标记庭审阶段 (mark a stage change at the audio's time)"),
            ("Alt+L", "在播放位置添加笔记 (add a log note at the audio's time)"),
        ),
    ),
    (
        "输入时 (while typing in a row)",
        (
            ("Enter", "在光标处拆分本段 (split the segment at the caret)"),
            ("Delete（行末 at the end）", "与下一段合并 (merge with the next)"),
            ("Backspace（行首 at the start）", "与上一段合并 (merge with the previous)"),
            ("Esc", "结束输入，回到浏览 (stop typing: navigation mode)"),
        ),
    ),
    (
        "浏览时 (navigation mode: a row selected, not typing)",
        (
            ("Space", "播放 / 暂停 (play / pause)"),
            ("← / →", "后退 / 前进 3 秒 (back / forward 3 s)"),
            ("↑ / ↓", "上一行 / 下一行 (previous / next row)"),
            ("1 – 9", "本段说话人 = 第 n 位；多一位即新说话人 (the row's speaker = speaker n; one more: a new one)"),
            ("[ / ]", "减速 / 加速 (slower / faster)"),
            ("n / N", "下一个 / 上一个低置信词 (next / previous low-confidence word)"),
            ("Enter / i", "在本行输入 (type in the row)"),
            ("m", "与下一段合并 (merge with the next)"),
            ("c", "核对至此（再按清除）(checked up to here; again on the same row clears it)"),
            ("s", "标记庭审阶段（Enter 保存，Esc 取消）(mark a stage at the audio's time: Enter saves, Esc cancels)"),
            ("l", "添加笔记（Enter 保存，Esc 取消）(add a log note at the audio's time: Enter saves, Esc cancels)"),
            ("f", "跟随播放 开/关 (follow playback on/off)"),
            ("/", "查找替换 (find and replace)"),
            ("?", "本表 (this sheet)"),
        ),
    ),
    (
        "鼠标 (mouse)",
        (
            ("点击词语 (click a word)", "从该词播放 (play from it)"),
            ("点击阶段或笔记 (click a stage or note)", "从该处播放 (play from it)"),
        ),
    ),
)

# Streamlit's theme variables, so the desk follows the light and the dark theme.
_CSS = """
.wb-desk { font-family: var(--st-font, sans-serif); color: var(--st-text-color); display: flex;
  flex-direction: column; height: max(26rem, calc(100vh - 16rem)); outline: none; position: relative;
  border: 1px solid var(--st-border-color, #ddd); border-radius: var(--st-base-radius, .5rem);
  background: var(--st-background-color); }
.wb-desk:focus-visible { box-shadow: 0 0 0 2px var(--st-primary-color); }
.wb-bar { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem .6rem; padding: .4rem .6rem;
  background: var(--st-secondary-background-color); border-bottom: 1px solid var(--st-border-color, #ddd);
  border-radius: var(--st-base-radius, .5rem) var(--st-base-radius, .5rem) 0 0; font-size: .875rem; }
.wb-btn { border: 1px solid var(--st-border-color, #ccc); background: var(--st-background-color);
  color: var(--st-text-color); border-radius: var(--st-base-radius, .4rem); padding: .15rem .55rem;
  cursor: pointer; font: inherit; }
.wb-btn:hover { border-color: var(--st-primary-color); }
.wb-btn:disabled { opacity: .45; cursor: default; }
.wb-btn.wb-on, .wb-btn[aria-pressed="true"] { border-color: var(--st-primary-color); color: var(--st-primary-color); }
.wb-speed, .wb-clock { font-variant-numeric: tabular-nums; min-width: 3ch; }
.wb-clock { min-width: 17ch; }
.wb-lowcount { color: var(--st-orange-color, #b45309); }
.wb-save { margin-left: auto; opacity: .8; }
.wb-save[data-state="error"], .wb-save[data-state="stale"] { color: var(--st-red-color, #c00); opacity: 1; }
.wb-msg { flex-basis: 100%; min-height: 0; font-size: .8rem; opacity: .85; }
.wb-msg:empty { display: none; }
.wb-find { padding: .4rem .6rem; border-bottom: 1px solid var(--st-border-color, #ddd); font-size: .875rem;
  background: var(--st-secondary-background-color); max-height: 40%; overflow: auto; }
.wb-find-line { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
.wb-input { font: inherit; padding: .15rem .4rem; color: var(--st-text-color); background: var(--st-background-color);
  border: 1px solid var(--st-border-color, #ccc); border-radius: var(--st-base-radius, .4rem); min-width: 12rem; }
.wb-find-note { margin: .3rem 0; opacity: .85; }
.wb-find-list { margin: 0; padding-left: 1.5rem; }
.wb-find-item { cursor: pointer; padding: .1rem 0; }
.wb-find-item .wb-time { margin-right: .5rem; opacity: .6; }
.wb-find-before { text-decoration: line-through; opacity: .7; }
.wb-scroll { flex: 1 1 auto; overflow-y: auto; overflow-anchor: auto; padding: .25rem 0; }
.wb-row { display: grid; grid-template-columns: 5.2rem 8.5rem 1fr; gap: .25rem .6rem; padding: .3rem .6rem;
  border-left: 3px solid transparent; line-height: 1.6; }
.wb-row.wb-selected { border-left-color: var(--st-primary-color);
  background: color-mix(in srgb, var(--st-primary-color) 6%, transparent); }
.wb-row.wb-current { background: color-mix(in srgb, var(--st-primary-color) 12%, transparent); }
.wb-time { font-variant-numeric: tabular-nums; opacity: .6; font-size: .8rem; padding-top: .2rem; }
.wb-speaker { font-weight: 600; font-size: .85rem; padding-top: .15rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.wb-text { white-space: pre-wrap; word-break: break-word; outline: none; min-height: 1.6em; border-radius: .2rem; }
.wb-text[contenteditable]:focus { box-shadow: 0 0 0 1px var(--st-primary-color); }
.wb-w { cursor: pointer; border-radius: .15rem; }
.wb-w.wb-low { text-decoration: underline wavy var(--st-orange-color, #d97706); text-underline-offset: .2em; }
.wb-w.wb-now { background: color-mix(in srgb, var(--st-primary-color) 35%, transparent); }
.wb-rowstate { grid-column: 3; font-size: .8rem; }
.wb-rowstate:empty { display: none; }
.wb-row[data-state="pending"] .wb-time::after { content: " •"; color: var(--st-primary-color); }
.wb-row[data-state="error"] .wb-time, .wb-row-error { color: var(--st-red-color, #c00); opacity: 1; }
.wb-stale { border: 1px solid var(--st-red-color, #c00); border-radius: .3rem; padding: .3rem .5rem;
  display: flex; flex-wrap: wrap; gap: .3rem .5rem; align-items: center; }
.wb-stale-detail, .wb-stale-theirs { flex-basis: 100%; }
.wb-orphans { padding: .4rem .6rem; border-bottom: 1px solid var(--st-border-color, #ddd); font-size: .85rem;
  max-height: 30%; overflow: auto; }
.wb-orphans-title { color: var(--st-red-color, #c00); margin-bottom: .2rem; }
.wb-orphan { display: flex; gap: .4rem; align-items: baseline; padding: .1rem 0; }
.wb-orphan-text { flex: 1 1 auto; white-space: pre-wrap; word-break: break-word; }
.wb-checked { margin: .1rem .6rem; padding: .1rem .5rem; font-size: .8rem; color: var(--st-green-color, #15803d);
  border-top: 2px dashed var(--st-green-color, #15803d); }
.wb-note { margin: .15rem .6rem; padding: .05rem .5rem; font-size: .8rem; cursor: pointer; line-height: 1.5;
  border-left: 3px solid var(--st-gray-color, #6b7280); border-radius: .2rem; }
.wb-note .wb-time { margin-right: .5rem; }
.wb-note[data-kind="stage"] { font-weight: 700; font-size: .875rem; color: var(--st-primary-color);
  border-left-color: var(--st-primary-color); border-top: 1px solid var(--st-primary-color);
  background: color-mix(in srgb, var(--st-primary-color) 5%, transparent); }
.wb-note[data-kind="recess"] { color: var(--st-orange-color, #b45309);
  border-left-color: var(--st-orange-color, #b45309);
  background: color-mix(in srgb, var(--st-orange-color, #b45309) 6%, transparent); }
.wb-mark { padding: .4rem .6rem; border-bottom: 1px solid var(--st-border-color, #ddd); font-size: .875rem;
  background: var(--st-secondary-background-color); display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
.wb-mark[hidden] { display: none; }
.wb-mark .wb-input { flex: 1 1 16rem; }
.wb-mark-note { flex-basis: 100%; font-size: .8rem; }
.wb-mark-note:empty { display: none; }
.wb-mark-note[data-state="error"] { color: var(--st-red-color, #c00); }
.wb-sheet { position: absolute; inset: 3rem 10% auto 10%; max-height: calc(100% - 4rem); overflow: auto; z-index: 5;
  background: var(--st-background-color); border: 1px solid var(--st-border-color, #ccc); padding: .8rem 1rem;
  border-radius: var(--st-base-radius, .5rem); box-shadow: 0 .5rem 2rem rgba(0, 0, 0, .25); font-size: .875rem; }
.wb-sheet-title { font-weight: 700; margin-bottom: .4rem; }
.wb-sheet-group { font-weight: 600; margin: .6rem 0 .2rem; }
.wb-sheet-table { border-collapse: collapse; width: 100%; }
.wb-sheet-table td { padding: .1rem .5rem; border-bottom: 1px solid var(--st-border-color-light, #eee); }
.wb-sheet-keys { white-space: nowrap; font-family: var(--st-code-font, monospace); width: 14rem; }
.wb-sheet-foot { margin-top: .5rem; opacity: .7; }
.wb-error, .wb-empty { padding: 1rem; }
.wb-error { color: var(--st-red-color, #c00); }
"""

_component = st.components.v2.component(
    "workbench.desk",
    css=_CSS,
    js=(_HERE / "desk_component.js").read_text(encoding="utf-8"),
)


README_MARKERS = ("<!-- desk-keys:start -->", "<!-- desk-keys:end -->")


def keys_markdown() -> str:
    """`SHORTCUTS` as the README's table (`python -m workbench.web.desk_component` rewrites it; a test checks)."""
    lines = ["| Keys | What they do |", "|---|---|"]
    for group, rows in SHORTCUTS:
        lines.append(f"| **{group}** | |")
        lines.extend(f"| {keys.replace('|', '&#124;')} | {does.replace('|', '&#124;')} |" for keys, does in rows)
    return "\n".join(lines)


def update_readme(readme: Path) -> bool:
    from workbench.files import rewrite_between

    return rewrite_between(readme, *README_MARKERS, keys_markdown())


def desk_data(
    *, hearing_id: int, recording_id: int | None, may_edit: bool, start_at: float | None, account: str
) -> dict:  # type: ignore[type-arg]
    """What the component's script gets: the hearing, whether it may write, where to open, the key sheet, the
    stages a stage mark offers (and the notes' length caps), and the signed-in account's name (this browser
    keeps unsaved edits and the position per account and hearing, so nothing typed is resent under whoever signs
    in next)."""
    return {
        "hearing_id": int(hearing_id),
        "account": str(account),
        "text_max": SEGMENT_TEXT_MAX,
        "recording_id": None if recording_id is None else int(recording_id),
        "may_edit": bool(may_edit),
        "start_at": None if start_at is None else float(start_at),
        "api": API_ROOT,
        "keys": [[group, [list(row) for row in rows]] for group, rows in SHORTCUTS],
        "stages": list(STAGES),
        "stage_max": STAGE_MAX,
        "note_max": NOTE_TEXT_MAX,
    }


def review_desk(
    *, hearing_id: int, recording_id: int | None, may_edit: bool, start_at: float | None, account: str, key: str
) -> None:
    """Draws the desk for one hearing. `may_edit` only shapes the editor (the API checks every write itself);
    `start_at` (seconds, from a link such as a search hit) wins over the position this browser remembers;
    `account` is the signed-in account's name (`Account.name`)."""
    _component(
        key=key,
        data=desk_data(
            hearing_id=hearing_id, recording_id=recording_id, may_edit=may_edit, start_at=start_at, account=account
        ),
    )


if __name__ == "__main__":
    from workbench import settings

    update_readme(settings.CHECKOUT / "README.md")
