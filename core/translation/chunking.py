"""Cut a text into pieces a provider accepts, at the coarsest boundaries available (paragraph, line, sentence)."""

from __future__ import annotations

import re
from collections.abc import Callable

#: Measures (e.g. len, or the URL-encoded length) and the bound each must stay within in one request.
Limits = tuple[tuple[Callable[[str], int], int], ...]
#: Cut points, coarsest first: paragraph, line, sentence end, whitespace. Below that: between code points.
_LEVELS = (
    re.compile(r"\n[ \t\r\f\v]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?…;:])[\"'”’)\]]*\s+|(?<=[。！？；])"),
    re.compile(r"\s+"),
)


def _pieces(text: str, limits: Limits, level: int = 0) -> list[str]:
    if all(measure(text) <= bound for measure, bound in limits):
        return [text]
    if level == len(_LEVELS):
        return list(text)  # one token longer than the limit: cut between code points
    cuts = [m.end() for m in _LEVELS[level].finditer(text) if 0 < m.end() < len(text)]
    units = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return [piece for unit in units for piece in _pieces(unit, limits, level + 1)]


def split_text(text: str, limits: Limits) -> list[str]:
    """Cut *text* into pieces within *limits* at the coarsest boundaries available; ``"".join`` restores it."""
    chunks: list[str] = []
    current, totals = "", [0] * len(limits)
    for piece in _pieces(text, limits):
        cost = [measure(piece) for measure, _ in limits]
        if current and any(t + c > bound for t, c, (_, bound) in zip(totals, cost, limits, strict=True)):
            chunks.append(current)
            current, totals = "", [0] * len(limits)
        current += piece
        totals = [t + c for t, c in zip(totals, cost, strict=True)]
    return [*chunks, current] if current else chunks
