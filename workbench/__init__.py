"""Hearing transcript workbench: court recordings to speaker-labelled, searchable transcripts."""

# First, before any model library is imported: no telemetry, no update checks, no hub look-ups.
from workbench import offline  # noqa: F401

__version__ = "0.1.0"
