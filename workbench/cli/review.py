"""`workbench speakers | segments | search | hotwords`: the clerk's work on a transcript, from a shell.

`segments split | merge | replace` are the review desk's (issue 15) split, merge and find-and-replace: the
same API calls, so the same checks, edits rows and audit rows.

Each verb is an API client (`with_api`): through the running server when there is one, else in this
process on the store; either way the API's checks, as the pages make them: a segment, speaker or list of
another case answers "not found or not yours"; a viewer may search but not edit; the global hotword list
is an admin's. `segments edit --version N` refuses the change if someone edited the segment since version
N (each segment's `version` in GET /api/v1/hearings/{id}/segments and GET /api/v1/segments/{id}).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, parse_date, with_api
from workbench.display import clock
from workbench.speech.text import Hotword, format_hotwords, parse_hotwords
from workbench.store import ROLES
from workbench.store.notes import KIND_WORDS

if TYPE_CHECKING:
    from workbench.api.client import Api


# --- speakers, segments ------------------------------------------------------------------------------


@click.group("speakers")
def speakers_group() -> None:
    """A hearing's speakers: court role and name."""


@speakers_group.command("set")
@click.argument("hearing_id", type=int)
@click.argument("label")
@click.option("--role", help=f"Court role: {', '.join(ROLES)} (or another).")
@click.option("--name", help="Display name.")
@with_api
def speakers_set(api: Api, hearing_id: int, label: str, role: str | None, name: str | None) -> None:
    """Give speaker LABEL (S1, S2, ...) of a hearing a role and/or a name (audited under the account)."""
    change = {k: v for k, v in (("role", role), ("name", name)) if v is not None}
    if change:
        s = api.call("PATCH", f"/hearings/{hearing_id}/speakers/{label}", json=change)
    else:  # nothing to change: say who the speaker is, as before
        listed = api.call("GET", f"/hearings/{hearing_id}/speakers", params={"limit": 1000})["items"]
        s = next((x for x in listed if x["label"] == label), None)
        if s is None:
            known = ", ".join(x["label"] for x in listed) or "none"
            raise click.ClickException(f"hearing {hearing_id} has no speaker {label}; it has: {known}")
    click.echo(f"hearing {hearing_id} {s['label']}: {s['display']}")


@click.group("segments")
def segments_group() -> None:
    """Correct a segment's text or speaker (the original is kept; each change is logged)."""


@segments_group.command("edit")
@click.argument("segment_id", type=int)
@click.option("--text", help="The corrected text.")
@click.option("--speaker", help="The correct speaker label (S1, S2, ...).")
@click.option(
    "--version",
    type=click.IntRange(min=0),
    help="The segment's version this change is made against: refused if someone has edited it since.",
)
@with_api
def segments_edit(api: Api, segment_id: int, text: str | None, speaker: str | None, version: int | None) -> None:
    """Change SEGMENT's text and/or speaker (audited under the account)."""
    if text is None and speaker is None:
        raise click.UsageError("give --text and/or --speaker")
    change: dict[str, Any] = {k: v for k, v in (("text", text), ("speaker", speaker)) if v is not None}
    if version is not None:
        change["version"] = version
    seg = api.call("PATCH", f"/segments/{segment_id}", json=change)
    click.echo(f"segment {seg['id']} ({seg['speaker']}): {seg['text']}")


def _segment(api: Api, segment_id: int, version: int | None) -> tuple[dict[str, Any], int]:
    """The segment as it is now, and the version to act against: the one given, else its current one."""
    seg = api.call("GET", f"/segments/{segment_id}")
    return seg, seg["version"] if version is None else version


@segments_group.command("split")
@click.argument("segment_id", type=int)
@click.option("--at", "at", required=True, type=click.IntRange(min=1), help="Cut after this many characters.")
@click.option("--version", type=click.IntRange(min=0), help="Refused if the segment was edited since this version.")
@with_api
def segments_split(api: Api, segment_id: int, at: int, version: int | None) -> None:
    """Cut SEGMENT in two after --at characters (audited; `segments merge` undoes it)."""
    from workbench.desk import to_utf16

    seg, version = _segment(api, segment_id, version)
    if at >= len(seg["text"]):
        raise click.BadParameter(f"the segment has {len(seg['text'])} characters: cut at 1..{len(seg['text']) - 1}",
                                 param_hint="--at")  # fmt: skip
    done = api.call("POST", f"/segments/{segment_id}/split", json={"at": to_utf16(seg["text"], at), "version": version})
    for s in done["segments"]:
        click.echo(f"segment {s['id']} {clock(s['start'], hour_digits=1)} ({s['speaker']}): {s['text']}")


@segments_group.command("merge")
@click.argument("segment_id", type=int)
@click.option("--version", type=click.IntRange(min=0), help="Refused if the segment was edited since this version.")
@with_api
def segments_merge(api: Api, segment_id: int, version: int | None) -> None:
    """Join SEGMENT with the one after it (audited; the removed segment is kept in the database)."""
    seg, version = _segment(api, segment_id, version)
    after = api.call("GET", f"/hearings/{seg['hearing_id']}/segments", params={"offset": seg["idx"] + 1, "limit": 1})
    if not after["items"]:
        raise click.ClickException(f"segment {segment_id} is the last of its hearing: nothing to merge it with")
    nxt = after["items"][0]
    done = api.call("POST", f"/segments/{segment_id}/merge", json={"version": version, "next_version": nxt["version"]})
    s = done["segment"]
    click.echo(f"segment {s['id']} ({s['speaker']}): {s['text']}  (merged segment {done['removed']} into it)")


@segments_group.command("replace")
@click.argument("hearing_id", type=int)
@click.argument("find")
@click.argument("replacement")
@click.option("--apply", "apply", is_flag=True, help="Make the replacements (default: only show them).")
@click.option("--ignore-case", is_flag=True, help="Match Latin letters in either case.")
@with_api
def segments_replace(api: Api, hearing_id: int, find: str, replacement: str, apply: bool, ignore_case: bool) -> None:
    """Replace FIND with REPLACEMENT in a hearing's text: a preview, or with --apply each one an edit (audited)."""
    body: dict[str, Any] = {"find": find, "replace": replacement, "match_case": not ignore_case}
    preview = api.call("POST", f"/hearings/{hearing_id}/replace", json=body)
    for m in preview["matches"]:
        click.echo(f"{m['segment_id']:>8}  ×{m['count']}  {m['before']}\n{'':>8}   → {m['after']}")
    click.echo(f"{preview['total']} occurrence(s) in {len(preview['matches'])} segment(s)")
    more = preview.get("more", 0)
    if more:  # the API lists (and replaces) at most 1,000 segments at a time
        click.echo(f"{more} more segment(s) match past those listed: run again after --apply for them", err=True)
    if not apply or not preview["matches"]:
        return
    chosen = [{"segment_id": m["segment_id"], "version": m["version"]} for m in preview["matches"]]
    results = api.call("POST", f"/hearings/{hearing_id}/replace",
                       json={**body, "apply": True, "segments": chosen})["results"]  # fmt: skip
    failed = [r for r in results if not r["ok"]]
    click.echo(f"replaced in {len(results) - len(failed)} segment(s)")
    for r in failed:
        click.echo(f"segment {r['segment_id']} not changed: {r['detail']}", err=True)
    if failed:
        sys.exit(1)


# --- search --------------------------------------------------------------------------------------------


def _marked(hit: dict[str, Any], before: str = "【", after: str = "】") -> str:
    """The snippet with each hit wrapped in `before`/`after` (as `Hit.marked`)."""
    snippet, out, pos = hit["snippet"], [], 0
    for a, b in hit["marks"]:
        out += [snippet[pos:a], before, snippet[a:b], after]
        pos = b
    out.append(snippet[pos:])
    return "".join(out)


def _hit_dict(hit: dict[str, Any]) -> dict[str, Any]:
    """An API hit as `--json` has always printed it (`Hit.to_dict()`: its names and order)."""
    return {
        "segment_id": hit["segment_id"],
        "hearing_id": hit["hearing_id"],
        "case_id": hit["case_id"],
        "case_number": hit["case"],
        "hearing_start": hit["starts_at"] or "",
        "start": hit["start"],
        "end": hit["end"],
        "speaker": hit["speaker"],
        "role": hit["role"],
        "name": hit["name"],
        "score": hit["score"],
        "text": hit["text"],
        "snippet": hit["snippet"],
        "marks": hit["marks"],
        "edited": hit["edited"],
        "snippet_marked": hit["snippet_marked"],
    }


@click.command("search")
@click.argument("query")
@click.option("--case", help="Case number or id.")
@click.option("--from", "date_from", help="Hearings from this date (inclusive), YYYY-MM-DD.")
@click.option("--to", "date_to", help="Hearings up to this date (inclusive), YYYY-MM-DD.")
@click.option("--role", help="Only segments spoken by this role, e.g. 原告.")
@click.option("--speaker", help="Only segments of this speaker (name or label).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--original", is_flag=True, help="Search the original recognition instead of the corrected text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the segments found; with --notes the notes).")
@click.option("--notes", "notes_only", is_flag=True, help="Only the clerk's log notes found (stages, notes, recesses).")
@with_api
def search_cmd(
    api: Api,
    query: str,
    case: str | None,
    date_from: str | None,
    date_to: str | None,
    role: str | None,
    speaker: str | None,
    limit: int,
    original: bool,
    as_json: bool,
    notes_only: bool,
) -> None:
    """Find words or a "quoted phrase" across the hearings this account may see, best first: the segments, then
    the log notes that match (a note has no speaker: none with --role, --speaker or --original)."""
    params: dict[str, Any] = {"q": query, "limit": limit}
    for name, value in (
        ("case", case),
        ("from", parse_date(date_from)),  # a bad date: a usage error here, before any call
        ("to", parse_date(date_to)),
        ("role", role),
        ("speaker", speaker),
    ):
        if value:
            params[name] = str(value)
    if original:
        params["original"] = "true"
    answer = api.call("GET", "/search", params=params)  # audited by the API
    hits = [] if notes_only else answer["items"]
    notes = answer.get("notes", [])
    if as_json:  # the segments' list as it has always been; the notes' with --notes
        echo_json(notes if notes_only else [_hit_dict(h) for h in hits])
        return
    if not hits and not notes:
        click.echo("no match", err=True)
        return
    bold = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("【", "】")
    for h in hits:
        who = h["who"] or "?"
        day = (h["starts_at"] or "")[:10] or "-"
        text = _marked(h, *bold)
        edited = " (edited)" if h["edited"] and not original else ""
        at = clock(h["start"], hour_digits=1)
        click.echo(f"hearing {h['hearing_id']} {at}  {h['case']} {day}  {who}: {text}{edited}")
    for n in notes:
        day = (n["starts_at"] or "")[:10] or "-"
        at = clock(n["at"], hour_digits=1)
        until = f"—{clock(n['end'], hour_digits=1)}" if n["end"] is not None else ""
        kind = KIND_WORDS.get(n["kind"], n["kind"])
        click.echo(f"hearing {n['hearing_id']} {at}{until}  {n['case']} {day}  [{kind}] {_marked(n, *bold)}")


# --- hotwords ------------------------------------------------------------------------------------------


@click.group("hotwords")
def hotwords_group() -> None:
    """Hotword lists (names, places, legal terms) used by every job: global and per case."""


@hotwords_group.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--case", help="The case's list (default: the global list, an admin's).")
@with_api
def hotwords_set(api: Api, file: Any, case: str | None) -> None:
    """Replace a list with FILE's (one term per line, optional weight after a space; - reads stdin)."""
    words = [{"term": h.term, "weight": h.weight} for h in parse_hotwords(file.read())]
    body: dict[str, Any] = {"words": words}
    if case:
        body["case"] = case
    saved = api.call("PUT", "/hotwords", json=body)
    click.echo(f"{len(saved['words'])} hotwords set for {'case ' + case if case else 'all cases'}")


@hotwords_group.command("show")
@click.option("--case", help="The case's list (default: the global list).")
@with_api
def hotwords_show(api: Api, case: str | None) -> None:
    """Print a list in the format `hotwords set` reads."""
    listed = api.call("GET", "/hotwords", params={"case": case} if case else None)
    text = format_hotwords(tuple(Hotword(w["term"], w["weight"]) for w in listed["words"]))
    if text:
        click.echo(text)
