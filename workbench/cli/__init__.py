"""`workbench ...`: everything the UI does, from a shell."""

from __future__ import annotations

import logging

import click

from workbench.cli.audit import audit_group
from workbench.cli.corrections import corrections_group
from workbench.cli.courtrooms import courtrooms_group, roster_group
from workbench.cli.export import export_cmd
from workbench.cli.hearings import cases_group, hearings_group
from workbench.cli.jobs import jobs_group
from workbench.cli.models import models_group
from workbench.cli.notes import notes_group
from workbench.cli.review import hotwords_group, search_cmd, segments_group, speakers_group
from workbench.cli.serve import serve_cmd
from workbench.cli.tokens import tokens_group
from workbench.cli.transcribe import diarize_cmd, transcribe_cmd
from workbench.cli.users import users_group
from workbench.cli.verify import verify_cmd
from workbench.cli.voices import voices_group


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Court hearing recordings to speaker-labelled, searchable transcripts and court records."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


main.add_command(models_group)
main.add_command(transcribe_cmd)
main.add_command(diarize_cmd)
main.add_command(export_cmd)
main.add_command(verify_cmd)
main.add_command(serve_cmd)
for _command in (
    cases_group, hearings_group, corrections_group, speakers_group, segments_group, search_cmd, hotwords_group,
    jobs_group, users_group, audit_group, tokens_group, courtrooms_group, roster_group, notes_group, voices_group,
):  # fmt: skip
    main.add_command(_command)
