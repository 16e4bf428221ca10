"""Offline language detection of short comments (posted without ``lang``)."""

from __future__ import annotations


def detect(text: str) -> str | None:
    """Return the language of *text* as a code Parley supports, or None when unsure (too short, no letters)."""
    return None
