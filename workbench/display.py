"""How the workbench writes times, sizes and search hits for people: one of each, for the pages and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

# Every ASCII punctuation character (CommonMark's escapable set) becomes a numeric character reference, and
# every control character (newlines included) a space. A reference decodes to its character in Markdown text
# and in raw HTML alike but never acts as syntax: no link, emphasis, heading, list, table, HTML tag, Streamlit
# directive (`:red[...]`, `:material/...:`), LaTeX (`$`) or GFM autolink (`http://`, `www.`, `a@b`).
_ESCAPES = {c: f"&#{c};" for c in range(0x21, 0x7F) if not chr(c).isalnum()}
_ESCAPES.update({c: " " for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)})
# Bidi embeddings, overrides and isolates too: they would make the text around them show in another order.
_ESCAPES.update({c: " " for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


SEALED_PLACEHOLDER = "【不公开】"  # a sealed part's text, to an account that may not see it (pages, API)


def clock(seconds: float | None, *, hour_digits: int = 2) -> str:
    """00:12:03 for a time in the recording; `hour_digits=1` gives the CLI's 0:12:03."""
    if seconds is None:
        return "--:--:--"
    s = int(max(seconds, 0))
    return f"{s // 3600:0{hour_digits}d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def parse_clock(text: str) -> float:
    """A time in the recording as a person types it: `01:02:03`, `2:03`, `123` or `123.5` seconds.

    ValueError naming the text and the forms otherwise (negative, minutes or seconds of 60 and up, not a number).
    """
    raw = str(text).strip().replace("：", ":")
    parts = raw.split(":")
    try:
        if not raw or len(parts) > 3 or any(not p.strip() for p in parts):
            raise ValueError
        numbers = [float(p) for p in parts]
        if any(n < 0 or n != n or n == float("inf") for n in numbers) or any(n >= 60 for n in numbers[1:]):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"时间无效：{raw[:40]!r}，应为 时:分:秒、分:秒 或秒数 (a time is HH:MM:SS, MM:SS or seconds)"
        ) from None
    seconds = 0.0
    for n in numbers:
        seconds = seconds * 60 + n
    return seconds


def size(n: int | float | None) -> str:
    """1.2 GB: a file's or a model's size, to one decimal from MB up."""
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":  # 1000, not 1024: "1.0 GB" reads better than "1018.6 MB"
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def megabytes(n: int | float | None) -> str:
    """1,234 MB: memory to the megabyte, for readings compared with each other (the floor, RSS)."""
    return "—" if n is None else f"{n / 2**20:,.0f} MB"


def eta(seconds: float | None) -> str:
    """约 3 分钟: a job's time left, rounded as a clerk would say it."""
    if seconds is None:
        return "估算中"
    if seconds < 60:
        return f"约 {max(int(seconds), 1)} 秒"
    if seconds < 3600:
        return f"约 {round(seconds / 60)} 分钟"
    return f"约 {seconds / 3600:.1f} 小时"


def md_escape(text: object) -> str:
    """Stored text (a case number, a name, a file name, a snippet) made safe to show as itself in `st.markdown`,
    `st.title`, `st.caption`, widget labels, toasts and messages, and inside HTML given with `unsafe_allow_html`.

    `[重新登录](http://x)` shows as those characters, not as a link; `<b>` as `<b>`, not bold. One line always,
    and in the order stored (control and bidi-override characters become spaces).
    """
    return ("" if text is None else str(text)).translate(_ESCAPES)


def highlight(snippet: str, marks: Sequence[tuple[int, int]]) -> str:
    """The snippet as HTML with each hit in <mark>; everything else escaped (`md_escape`)."""
    out, pos = [], 0
    for a, b in marks:
        out += [md_escape(snippet[pos:a]), "<mark>", md_escape(snippet[a:b]), "</mark>"]
        pos = b
    out.append(md_escape(snippet[pos:]))
    return "".join(out)
