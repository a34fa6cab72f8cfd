"""A case's voices: a speaker named in one hearing proposed for the matching voice in the case's other hearings.

Written by the issue-17 voices helper: see /tmp/prompts/design17.md.
"""

from __future__ import annotations

from workbench.store.segments import Segments


class Voices(Segments):
    """Voice proposals within a case."""
