"""Courtroom profiles (which seat and role each microphone channel is) and a case's roster (who takes part).

Written by the issue-17 courtroom helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

from workbench.store.cases import Cases


class Courtrooms(Cases):
    """Courtroom profiles and case rosters."""
