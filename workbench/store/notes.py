"""A clerk's log notes on a hearing: stage changes, timed notes, recesses.

Written by the issue-17 notes helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

from workbench.store.cases import Cases


class Notes(Cases):
    """Log notes of hearings."""
