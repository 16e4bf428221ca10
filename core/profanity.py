"""Parley's profanity engine: better-profanity's word list and leetspeak rules, compiled for hash lookups.

See docs/PROFANITY.md for the design, the detection table and the benchmark.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from core.profanity_lexicon import Entry, Lexicon, build_lexicon
from core.profanity_normalize import is_dropped_mark, normalize_text

logger = logging.getLogger(__name__)

CENSOR = "****"  # better-profanity replaces a whole match, whatever its length, with four censor chars
_DOUBLES = re.compile(r"(.)\1+", re.S)
_RUNS = re.compile(r"(.)\1*", re.S)


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


def _exact_lookup(text: str, key: str, lex: Lexicon) -> str | None:
    """Return the entry *text* (lowercased) is a leetspeak variant of, as better-profanity compares."""
    for word, combos in lex.exact.get(key, ()):
        if len(text) == len(combos) and all(c in cs for c, cs in zip(text, combos, strict=True)):
            return None if text in lex.allowed else word
    return None


def _stretched_lookup(text: str, entries: tuple[Entry, ...]) -> str | None:
    """Return the entry whose leetspeak variant *text* is, each character possibly repeated ("fuuuck")."""
    runs = [(m.group(1), m.end() - m.start()) for m in _RUNS.finditer(text)]
    for word, combos in entries:
        size = len(combos)
        if len(text) < size:
            continue
        states = {0}  # how many characters of the entry the text read so far can stand for
        for char, count in runs:
            after: set[int] = set()
            for j in states:
                k = j  # one run of `count` equal characters covers 1..count entry characters
                while k < size and k - j < count and char in combos[k]:
                    k += 1
                    after.add(k)
            states = after
            if not states:
                break
        if size in states:
            return word
    return None


class _Collapsed:
    """Maps offsets in the collapsed text ("fuuuck" -> "fuck") back to the normalised text."""

    __slots__ = ("cpos", "nstart", "nend", "shift")

    def __init__(self, norm: str) -> None:
        self.cpos: list[int] = []
        self.nstart: list[int] = []
        self.nend: list[int] = []
        self.shift: list[int] = []
        removed = 0
        for m in _DOUBLES.finditer(norm):
            self.cpos.append(m.start() - removed)
            self.nstart.append(m.start())
            self.nend.append(m.end())
            removed += m.end() - m.start() - 1
            self.shift.append(removed)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the normalised span of the collapsed span [start, end)."""
        k = bisect_right(self.cpos, start) - 1
        nstart = start if k < 0 else self.nstart[k] if self.cpos[k] == start else start + self.shift[k]
        last = end - 1
        k = bisect_right(self.cpos, last) - 1
        nend = last + 1 if k < 0 else self.nend[k] if self.cpos[k] == last else last + self.shift[k] + 1
        return nstart, nend


class Engine:
    """A compiled profanity matcher; immutable after construction, so one instance serves all threads."""

    __slots__ = ("_lex", "_normalize")

    def __init__(self, banned: Iterable[str] = (), allowed: Iterable[str] = (), normalize: bool = True) -> None:
        """Compile the default list plus *banned*, minus *allowed*; *normalize* adds the evasion handling."""
        started = time.perf_counter()
        object.__setattr__(self, "_lex", build_lexicon(banned, allowed))
        object.__setattr__(self, "_normalize", normalize)
        logger.info(
            "Profanity engine built: %d entries, normalize=%s, %.1f ms",
            self._lex.size, normalize, (time.perf_counter() - started) * 1000,
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Engine is immutable; build a new one (get_engine with a new version)")

    @property
    def normalize(self) -> bool:
        """Whether the extra normalisation (docs/PROFANITY.md) is on."""
        return self._normalize

    def check(self, text: str) -> Verdict:
        """Return the verdict, the censored raw text and the matches with raw offsets, in one pass."""
        text = text if isinstance(text, str) else str(text)
        return self._check_normalized(text) if self._normalize else self._check_exact(text)

    def censor(self, text: str) -> str:
        """Return *text* with every match replaced by "****"."""
        return self.check(text).censored

    # better-profanity semantics, token by token instead of character by character. The control
    # flow (window of next words, skip index, its end-of-text quirks) is kept as it is on purpose:
    # with normalize=False the output must be identical, which tests/test_profanity.py checks.

    def _next_words(self, t: str, start: int, count: int) -> list[tuple[str, int, int, int]]:
        """Port of _get_next_words: (word, end_index, word start, word end) for the next *count* words."""
        found = []
        while True:
            m = self._lex.word_re.search(t, start)
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

    def _check_exact(self, text: str) -> Verdict:
        """Return the verdict exactly as better-profanity 0.7.0's censor() computes it."""
        lex = self._lex
        first = lex.word_re.search(text)
        offset = first.start() if first else len(text)
        if offset >= len(text) - 1:
            return Verdict(False, text, ())
        t = text[offset:]
        n = len(t)
        low = t.lower()
        if len(low) != n:  # only "İ" lowercases to two characters; it can never match an entry
            low = "".join(c.lower() if len(c.lower()) == 1 else "\0" for c in t)
        skel = low.translate(lex.skeleton)
        out, matches = [text[:offset]], []
        window: list[tuple[str, int, int, int]] = []
        skip, i = -1, 0
        while i < n:
            m = lex.word_re.match(t, i)
            if m is None:
                nxt = lex.word_re.search(t, i)
                out.append(t[i : nxt.start() if nxt else n])
                i = nxt.start() if nxt else n
                continue
            j = m.end()
            if j < n:
                if not window:
                    window = self._next_words(t, j, lex.max_combinations)
                else:
                    del window[0]
                    if window and window[-1][0]:
                        window += self._next_words(t, window[-1][1], 1)
                hit = self._exact_combination(low, skel, i, j, window)
                if hit is not None:
                    word, end, skip = hit
                    out.append(CENSOR)
                    matches.append(Match(word, offset + i, offset + end))
                    window, i = [], skip
                    continue
            elif skip >= n - 1:  # the last character was already inside the previous match
                break
            word = _exact_lookup(low[i:j], skel[i:j], lex) if skel[i:j] in lex.exact_prefixes else None
            out.append(t[i:j] if word is None else CENSOR)
            if word is not None:
                matches.append(Match(word, offset + i, offset + j))
            out.append(t[j : j + 1])
            i = j + 1
        return Verdict(bool(matches), "".join(out), tuple(matches))

    def _exact_combination(
        self, low: str, skel: str, i: int, j: int, window: list[tuple[str, int, int, int]]
    ) -> tuple[str, int, int] | None:
        """Port of any_next_words_form_swear_word: (entry, match end, skip index) or None."""
        lex = self._lex
        joined, joined_key = low[i:j], skel[i:j]
        for word, end_index, start, end in window:
            if not word:
                continue
            joined += low[start:end]
            joined_key += skel[start:end]
            sep_key = skel[i:end]  # the words with the separators between them, as in the text
            joined_alive, sep_alive = joined_key in lex.exact_prefixes, sep_key in lex.exact_prefixes
            if not joined_alive and not sep_alive:
                return None  # both forms only grow: no later combination can match either
            found = (joined_alive and _exact_lookup(joined, joined_key, lex)) or (
                sep_alive and _exact_lookup(low[i:end], sep_key, lex)
            )
            if found:
                return found, end, end_index
        return None

    # Normalising semantics: the text is normalised (docs/PROFANITY.md), runs of a repeated
    # character are collapsed, and words are looked up by the skeleton of their collapsed form;
    # a hit is then verified against the uncollapsed text, so "fuuuck" matches but "as" is not "ass".

    def _check_normalized(self, raw: str) -> Verdict:
        """Return the verdict with the extra normalisation; offsets and censoring refer to *raw*."""
        lex = self._lex
        norm, starts = normalize_text(raw)
        col = _DOUBLES.sub(r"\1", norm)
        skel = col.translate(lex.skeleton)
        prefixes = lex.stretched_prefixes
        toks = [(m.group(), m.start(), m.end()) for m in lex.norm_word_re.finditer(skel)]
        collapsed = None if len(col) == len(norm) else _Collapsed(norm)
        spans: list[tuple[int, int, str]] = []
        failed, resume = -2, 0
        for i in [k for k, tok in enumerate(toks) if tok[0] in prefixes]:
            if i < resume:
                continue
            key, a, b = toks[i]
            if failed == i - 1 and b - a == 1 and toks[i - 1][2] - toks[i - 1][1] == 1 and toks[i - 1][0] == key:
                if col[toks[i - 1][1]] == col[a]:  # "u u u": starting later finds nothing new
                    failed = i
                    continue
            found = self._longest(toks, i, col, skel, norm, collapsed)
            if found is None:
                failed = i
                continue
            end_tok, word = found
            na, nb = (a, toks[end_tok][2]) if collapsed is None else collapsed.span(a, toks[end_tok][2])
            spans.append((na, nb, word))
            resume = end_tok + 1
        return self._render(raw, starts, spans)

    def _longest(
        self, toks: list[tuple[str, int, int]], i: int, col: str, skel: str, norm: str, collapsed: _Collapsed | None
    ) -> tuple[int, str] | None:
        """Return (last token, entry) of the longest match starting at token *i*, or None."""
        lex = self._lex
        table, prefixes, limit = lex.stretched, lex.stretched_prefixes, lex.max_combinations
        first, a0, b0 = toks[i]
        cands: list[tuple[int, str, bool]] = [(i, first, False)] if first in table else []
        joined: str | None = first
        sep_alive, single = True, b0 - a0 == 1
        for j in range(i + 1, len(toks)):
            key, a, b = toks[j]
            near = j - i <= limit
            single = single and b - a == 1
            if not near and not single:
                break  # like better-profanity, words are joined over at most `limit` separators,
            if joined is not None:  # except letters spelled one by one ("f u c k", "f.u.c.k")
                piece = key[1:] if col[toks[j - 1][2] - 1] == col[a] else key
                if piece:
                    joined += piece
                    if joined not in prefixes:
                        joined = None
                    elif joined in table:
                        cands.append((j, joined, False))
                elif cands and cands[-1][0] == j - 1 and not cands[-1][2]:
                    cands[-1] = (j, joined, False)  # the same letter again: the same word, stretched
            if sep_alive and near:
                sep_key = skel[a0:b]
                sep_alive = sep_key in prefixes
                if sep_alive and sep_key in table:
                    cands.append((j, sep_key, True))
            if joined is None and not (sep_alive and near):
                break
        for j, key, with_separators in reversed(cands):
            pieces = [(a0, toks[j][2])] if with_separators else [(a, b) for _, a, b in toks[i : j + 1]]
            if collapsed is not None:
                pieces = [collapsed.span(a, b) for a, b in pieces]
            text = "".join(norm[a:b] for a, b in pieces)
            word = _stretched_lookup(text, table[key])
            if word is not None and text not in lex.allowed:
                return j, word
        return None

    @staticmethod
    def _render(raw: str, starts: list[int] | None, spans: list[tuple[int, int, str]]) -> Verdict:
        """Map normalised spans to raw offsets and censor the raw text, keeping every other character."""
        out, matches, pos = [], [], 0
        for na, nb, word in spans:
            start, end = (na, nb) if starts is None else (starts[na], starts[nb - 1] + 1)
            while starts is not None and end < len(raw) and is_dropped_mark(raw[end]):
                end += 1  # a combining mark belongs to the censored letter before it
            start = max(start, pos)
            out += [raw[pos:start], CENSOR]
            matches.append(Match(word, start, end))
            pos = end
        out.append(raw[pos:])
        return Verdict(bool(matches), "".join(out), tuple(matches))


_lock = threading.Lock()
_cached: tuple[int, Engine] | None = None
_default: Engine | None = None


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


def check(text: str) -> Verdict:
    """Check *text* with the default engine (the package's list, no moderator words)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Engine()
    return _default.check(text)
