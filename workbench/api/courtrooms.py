"""Issue 17 (courtrooms): written by its helper; see /tmp/prompts/design17.md."""

from __future__ import annotations

TAG = "courtrooms"
