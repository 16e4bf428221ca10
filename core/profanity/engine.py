"""Parley's profanity engine: better-profanity's word list and leetspeak rules, compiled for hash lookups.

See docs/PROFANITY.md for the design, the detection table and the benchmark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from core.profanity.lexicon import CENSOR, Span, build_lexicon
from core.profanity.match import find_matches
from core.profanity.normalize import inner_leet, is_dropped_mark, normalize_char, normalize_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """One matched list entry; start/end are offsets in the raw text."""

    word: str
    start: int
    end: int


@dataclass(frozen=True)
class Verdict:
    """The result of one check: verdict, censored raw text and the matches."""

    profane: bool
    censored: str
    matches: tuple[Match, ...]

    @property
    def words(self) -> list[str]:
        """Return the distinct matched words, in order of first appearance."""
        return list(dict.fromkeys(m.word for m in self.matches))


class Engine:
    """A compiled profanity matcher; immutable after construction, so one instance serves all threads."""

    __slots__ = ("_lex",)

    def __init__(self, banned: Iterable[str] = (), allowed: Iterable[str] = ()) -> None:
        """Compile the default list plus *banned*, minus *allowed*, with the evasion handling."""
        started = time.perf_counter()
        object.__setattr__(self, "_lex", build_lexicon(banned, allowed))
        logger.info(
            "Profanity engine built: %d entries, %.1f ms",
            self._lex.size, (time.perf_counter() - started) * 1000,
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Engine is immutable; build a new one (get_engine with a new version)")

    def check(self, text: str) -> Verdict:
        """Return the verdict, the censored raw text and the matches with raw offsets, in one pass."""
        text = text if isinstance(text, str) else str(text)
        return self._check_normalized(text)

    def censor(self, text: str) -> str:
        """Return *text* with every match replaced by "****"."""
        return self.check(text).censored

    def _check_normalized(self, raw: str) -> Verdict:
        """Return the verdict with the extra normalisation; offsets and censoring refer to *raw*."""
        norm, starts = normalize_text(raw)
        spans = self._raw_spans(find_matches(self._lex, norm), starts, raw)
        leet = inner_leet(norm)
        if leet is not None:  # "sh!t", "b!+ch": read again with those symbols as letters (same offsets)
            spans = _union(spans, self._raw_spans(find_matches(self._lex, leet), starts, raw))
        if not raw.isascii():
            # NFKC turns some separators into letters ("go²damn" reads "go2damn", "ǅ" reads "dž"),
            # which may hide a word better-profanity sees. Read such texts a second time with those
            # characters left as separators, and keep the matches of both readings.
            word_chars = self._lex.word_chars
            promoted = frozenset(
                c for c in set(raw) if c not in word_chars and any(n in word_chars for n in normalize_char(c))
            )
            if promoted:
                norm2, starts2 = normalize_text(raw, keep=promoted)
                spans = _union(spans, self._raw_spans(find_matches(self._lex, norm2), starts2, raw))
        return _render(raw, spans)

    @staticmethod
    def _raw_spans(spans: list[Span], starts: list[int] | None, raw: str) -> list[Span]:
        """Map normalised spans to raw offsets; a combining mark on the last letter joins the span."""
        if starts is None:
            return spans
        mapped = []
        for start, end, word in spans:
            start, end = starts[start], starts[end - 1] + 1
            while end < len(raw) and is_dropped_mark(raw[end]):
                end += 1
            mapped.append((start, end, word))
        return mapped


def _union(first: list[Span], second: list[Span]) -> list[Span]:
    """Return the spans of *first* plus those of *second* that overlap none of them, in order."""
    extra = [s for s in second if not any(s[0] < f[1] and f[0] < s[1] for f in first)]
    return sorted(first + extra)


def _render(raw: str, spans: list[Span]) -> Verdict:
    """Censor the raw text span by span, keeping every other character, and build the verdict."""
    out, matches, pos = [], [], 0
    for start, end, word in spans:
        start = max(start, pos)
        out += [raw[pos:start], CENSOR]
        matches.append(Match(word, start, end))
        pos = end
    out.append(raw[pos:])
    return Verdict(bool(matches), "".join(out), tuple(matches))


_lock = threading.Lock()
_cached: tuple[int, Engine] | None = None


def get_engine(banned: Iterable[str] = (), allowed: Iterable[str] = (), version: int = 0) -> Engine:
    """Return the process-wide engine, rebuilt only when *version* differs from the cached one."""
    global _cached
    cached = _cached  # one read: another thread may swap it, never half-way
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != version:
            _cached = (version, Engine(banned, allowed))
            logger.info("Profanity engine version %d is now in use", version)
        return _cached[1]

