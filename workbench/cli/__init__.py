"""`workbench ...`: everything the UI does, from a shell."""

from __future__ import annotations

import importlib
import logging

import click

# verb → (module, attribute). A verb's module is imported only when that verb runs (or `--help` lists
# them all): `transcribe` needs no database, and importing every verb's module would load DuckDB,
# python-docx and argon2 into it (about 75 MB of its peak, and a quarter of a second).
VERBS: dict[str, tuple[str, str]] = {
    "models": ("models", "models_group"),
    "transcribe": ("transcribe", "transcribe_cmd"),
    "diarize": ("transcribe", "diarize_cmd"),
    "export": ("export", "export_cmd"),
    "verify": ("verify", "verify_cmd"),
    "serve": ("serve", "serve_cmd"),
    "cases": ("hearings", "cases_group"),
    "hearings": ("hearings", "hearings_group"),
    "corrections": ("corrections", "corrections_group"),
    "speakers": ("review", "speakers_group"),
    "segments": ("review", "segments_group"),
    "search": ("review", "search_cmd"),
    "hotwords": ("review", "hotwords_group"),
    "jobs": ("jobs", "jobs_group"),
    "users": ("users", "users_group"),
    "audit": ("audit", "audit_group"),
    "tokens": ("tokens", "tokens_group"),
    "courtrooms": ("courtrooms", "courtrooms_group"),
    "roster": ("courtrooms", "roster_group"),
    "notes": ("notes", "notes_group"),
    "voices": ("voices", "voices_group"),
}


class VerbGroup(click.Group):
    """The top-level group, loading each verb from `VERBS` the first time it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in VERBS:
            module, attribute = VERBS[cmd_name]
            command = getattr(importlib.import_module(f"workbench.cli.{module}"), attribute)
            assert command.name == cmd_name, f"VERBS names {cmd_name!r}, the module {command.name!r}"
            self.add_command(command)
        return self.commands.get(cmd_name)


@click.group(cls=VerbGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Court hearing recordings to speaker-labelled, searchable transcripts and court records."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
