"""`workbench speakers | segments | search | hotwords`: the clerk's work on a transcript, from a shell.

Each verb runs as an account (`--as`) and is checked like the pages: a segment, speaker or list of
another case answers "not found or not yours"; a viewer may search but not edit; the global hotword
list is an admin's.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, parse_date, with_access
from workbench.display import clock
from workbench.speech.text import format_hotwords, parse_hotwords
from workbench.store import ROLES, NotFound, StoredSegment, audit
from workbench.store import search as search_mod

if TYPE_CHECKING:
    from workbench.accounts import Access


def _segment(access: Access, segment_id: int) -> StoredSegment:
    """The segment if the account may see its hearing; the same "not found or not yours" otherwise."""
    from workbench.accounts import NotYours

    try:
        seg = access.store.segment(segment_id)
    except NotFound:
        if access.is_admin:
            raise  # an admin sees every case: the store's own hint (where segment ids are listed) helps
        raise NotYours() from None
    access.hearing(seg.hearing_id)  # NotYours for another case's
    return seg


# --- speakers, segments ------------------------------------------------------------------------------


@click.group("speakers")
def speakers_group() -> None:
    """A hearing's speakers: court role and name."""


@speakers_group.command("set")
@click.argument("hearing_id", type=int)
@click.argument("label")
@click.option("--role", help=f"Court role: {', '.join(ROLES)} (or another).")
@click.option("--name", help="Display name.")
@with_access
def speakers_set(access: Access, hearing_id: int, label: str, role: str | None, name: str | None) -> None:
    """Give speaker LABEL (S1, S2, ...) of a hearing a role and/or a name (audited under the account)."""
    h = access.hearing(hearing_id)
    access.require_edit(h.case_id)
    s = access.store.set_speaker(hearing_id, label, role=role, name=name, actor=access.actor)
    click.echo(f"hearing {hearing_id} {s.label}: {s.display()}")


@click.group("segments")
def segments_group() -> None:
    """Correct a segment's text or speaker (the original is kept; each change is logged)."""


@segments_group.command("edit")
@click.argument("segment_id", type=int)
@click.option("--text", help="The corrected text.")
@click.option("--speaker", help="The correct speaker label (S1, S2, ...).")
@with_access
def segments_edit(access: Access, segment_id: int, text: str | None, speaker: str | None) -> None:
    """Change SEGMENT's text and/or speaker (audited under the account)."""
    if text is None and speaker is None:
        raise click.UsageError("give --text and/or --speaker")
    found = _segment(access, segment_id)
    access.require_edit(access.store.hearing(found.hearing_id).case_id)
    seg = access.store.edit_segment(segment_id, text=text, speaker=speaker, actor=access.actor)
    click.echo(f"segment {seg.id} ({seg.speaker}): {seg.text}")


# --- search --------------------------------------------------------------------------------------------


@click.command("search")
@click.argument("query")
@click.option("--case", help="Case number or id.")
@click.option("--from", "date_from", help="Hearings from this date (inclusive), YYYY-MM-DD.")
@click.option("--to", "date_to", help="Hearings up to this date (inclusive), YYYY-MM-DD.")
@click.option("--role", help="Only segments spoken by this role, e.g. 原告.")
@click.option("--speaker", help="Only segments of this speaker (name or label).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--original", is_flag=True, help="Search the original recognition instead of the corrected text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def search_cmd(
    access: Access,
    query: str,
    case: str | None,
    date_from: str | None,
    date_to: str | None,
    role: str | None,
    speaker: str | None,
    limit: int,
    original: bool,
    as_json: bool,
) -> None:
    """Find words or a "quoted phrase" across the hearings this account may see, best first."""
    hits = search_mod.search(
        access.store,
        query,
        case=case,
        date_from=parse_date(date_from),
        date_to=parse_date(date_to),
        role=role,
        speaker=speaker,
        case_ids=access.case_ids(),  # inside the query: other cases give no hits, counts or snippets
        limit=limit,
        original=original,
    )
    access.store.record(access.actor, audit.SEARCHED, detail={"query": query, "hits": len(hits), "via": "cli"})
    if as_json:
        echo_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no match", err=True)
        return
    for h in hits:
        who = h.who or "?"
        day = h.hearing_start[:10] or "-"
        text = h.marked("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else h.marked()
        edited = " (edited)" if h.edited and not original else ""
        at = clock(h.start, hour_digits=1)
        click.echo(f"hearing {h.hearing_id} {at}  {h.case_number} {day}  {who}: {text}{edited}")


# --- hotwords ------------------------------------------------------------------------------------------


@click.group("hotwords")
def hotwords_group() -> None:
    """Hotword lists (names, places, legal terms) used by every job: global and per case."""


@hotwords_group.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--case", help="The case's list (default: the global list, an admin's).")
@with_access
def hotwords_set(access: Access, file: Any, case: str | None) -> None:
    """Replace a list with FILE's (one term per line, optional weight after a space; - reads stdin)."""
    if case:
        case_id: int | None = access.case(case).id
        access.require_edit(case_id)
    else:
        case_id = None
        access.require_admin()
    words = parse_hotwords(file.read())
    access.store.set_hotwords(words, case_id=case_id, actor=access.actor)
    click.echo(f"{len(words)} hotwords set for {'case ' + case if case else 'all cases'}")


@hotwords_group.command("show")
@click.option("--case", help="The case's list (default: the global list).")
@with_access
def hotwords_show(access: Access, case: str | None) -> None:
    """Print a list in the format `hotwords set` reads."""
    case_id = access.case(case).id if case else None
    text = format_hotwords(access.store.hotwords(case_id=case_id))
    if text:
        click.echo(text)
