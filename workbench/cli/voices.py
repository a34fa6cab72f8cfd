"""`workbench voices`: names proposed for a hearing's speakers from the same case's earlier hearings.

Written by the issue-17 voices helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

import click


@click.group("voices")
def voices_group() -> None:
    """A case's voices: a speaker named in one hearing, proposed for the matching voice in another."""
