"""The reference: better-profanity 0.7.0's censor(), ported word by word onto the compiled lexicon.

The control flow -- a window of the next words, the skip index, their end-of-text quirks -- is kept
as it is on purpose: the output must be identical, which tests/test_profanity.py checks on 10,000
generated texts, and bench/bench_profanity.py times. Only the lookups change: one dict access instead
of a scan of the whole list.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from core.profanity.engine import Match, Verdict
from core.profanity.lexicon import ASTRAL, CENSOR, Lexicon, Span, build_lexicon

logger = logging.getLogger(__name__)


def _lookup(text: str, key: str, lex: Lexicon) -> str | None:
    """Return the entry *text* (lowercased) is a leetspeak variant of, as better-profanity compares."""
    for word, combos in lex.exact.plain.get(key, ()):
        if len(text) == len(combos) and all(c in cs for c, cs in zip(text, combos, strict=True)):
            return None if text in lex.allowed else word
    return None


def _next_words(word_re: re.Pattern[str], t: str, start: int, count: int) -> list[tuple[str, int, int, int]]:
    """Port of _get_next_words: (word, end_index, word start, word end) for the next *count* words."""
    found = []
    while True:
        m = word_re.search(t, start)
        s = m.start() if m else len(t)
        if m is None or s >= len(t) - 1:
            found.append(("", s, s, s))
            return found
        end_index = m.end() if m.end() < len(t) else len(t) - 1
        found.append((m.group(), end_index, s, m.end()))
        count -= 1
        if count <= 0:
            return found
        start = end_index


def censor_exact(lex: Lexicon, text: str) -> tuple[str, list[Span]]:
    """Return (censored text, matches) exactly as better-profanity 0.7.0's censor() computes it."""
    word_re = lex.word_re_bmp if text.isascii() or not ASTRAL.search(text) else lex.word_re
    first = word_re.search(text)
    offset = first.start() if first else len(text)
    if offset >= len(text) - 1:
        return text, []
    t = text[offset:]
    n = len(t)
    low = t.lower()
    if len(low) != n:  # only "İ" lowercases to two characters; it can never match an entry
        low = "".join(c.lower() if len(c.lower()) == 1 else "\0" for c in t)
    skel = low.translate(lex.exact.skeleton)
    out: list[str] = [text[:offset]]
    matches: list[Span] = []
    window: list[tuple[str, int, int, int]] = []
    skip, i = -1, 0
    while i < n:
        m = word_re.match(t, i)
        if m is None:
            nxt = word_re.search(t, i)
            out.append(t[i : nxt.start() if nxt else n])
            i = nxt.start() if nxt else n
            continue
        j = m.end()
        if j < n:
            if not window:
                window = _next_words(word_re, t, j, lex.max_combinations)
            else:
                del window[0]
                if window and window[-1][0]:
                    window += _next_words(word_re, t, window[-1][1], 1)
            hit = _combination(lex, low, skel, i, j, window)
            if hit is not None:
                word, end, skip = hit
                out.append(CENSOR)
                matches.append((offset + i, offset + end, word))
                window, i = [], skip
                continue
        elif skip >= n - 1:  # the last character was already inside the previous match
            break
        word = _lookup(low[i:j], skel[i:j], lex) if skel[i:j] in lex.exact.prefixes else None
        out.append(t[i:j] if word is None else CENSOR)
        if word is not None:
            matches.append((offset + i, offset + j, word))
        out.append(t[j : j + 1])
        i = j + 1
    return "".join(out), matches


def _combination(
    lex: Lexicon, low: str, skel: str, i: int, j: int, window: list[tuple[str, int, int, int]]
) -> tuple[str, int, int] | None:
    """Port of any_next_words_form_swear_word: (entry, match end, skip index) or None."""
    joined, joined_key = low[i:j], skel[i:j]
    for word, end_index, start, end in window:
        if not word:
            continue
        joined += low[start:end]
        joined_key += skel[start:end]
        sep_key = skel[i:end]  # the words with the separators between them, as in the text
        joined_alive, sep_alive = joined_key in lex.exact.prefixes, sep_key in lex.exact.prefixes
        if not joined_alive and not sep_alive:
            return None  # both forms only grow: no later combination can match either
        found = (joined_alive and _lookup(joined, joined_key, lex)) or (
            sep_alive and _lookup(low[i:end], sep_key, lex)
        )
        if found:
            return found, end, end_index
    return None


class ExactEngine:
    """better-profanity's own behaviour on Parley's compiled lexicon: the reference for tests and benchmarks."""

    def __init__(self, banned: Iterable[str] = (), allowed: Iterable[str] = ()) -> None:
        """Compile the default list plus *banned*, minus *allowed*, without Parley's extra normalisation."""
        self._lex = build_lexicon(banned, allowed)

    def check(self, text: str) -> Verdict:
        """Return better-profanity's verdict on *text* (its censor() output and the matched spans)."""
        text = text if isinstance(text, str) else str(text)
        censored, spans = censor_exact(self._lex, text)
        return Verdict(bool(spans), censored, tuple(Match(w, a, b) for a, b, w in spans))

    def censor(self, text: str) -> str:
        """Return *text* censored exactly as better-profanity's censor() does."""
        return self.check(text).censored
