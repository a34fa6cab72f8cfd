"""Issue 17 (notes): written by its helper; see /tmp/prompts/design17.md."""

from __future__ import annotations

TAG = "notes"
