"""`workbench courtrooms` (channel profiles per courtroom) and `workbench roster` (a case's participants).

Written by the issue-17 courtroom helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

import click


@click.group("courtrooms")
def courtrooms_group() -> None:
    """Courtroom profiles: which seat and role each microphone channel is (admin)."""


@click.group("roster")
def roster_group() -> None:
    """A case's participants (role, name, seat): they name the speakers and join the case's hotwords."""
