"""`workbench notes`: a hearing's stage marks, timed notes and recesses.

Written by the issue-17 notes helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

import click


@click.group("notes")
def notes_group() -> None:
    """A hearing's log notes: stage changes (庭审阶段), timed notes, recesses (休庭)."""
