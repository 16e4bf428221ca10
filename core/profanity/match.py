"""Matching with the extra normalisation (normalize=True): collapse, look up by skeleton, verify.

Runs of a repeated character are collapsed ("fuuuck" to "fuck") and words are looked up by the
skeleton of their collapsed form; a hit is then verified against the uncollapsed text, so "fuuuck"
matches but "as" is not "ass". Words are joined like better-profanity joins them (with the next
MAX_NUMBER_COMBINATIONS words, with and without separators), and single letters for as long as
they go on ("f u c k"). See docs/PROFANITY.md.
"""

from __future__ import annotations

import logging
import re
from itertools import accumulate

from core.profanity.lexicon import ASTRAL, Entry, Lexicon, Span, View

logger = logging.getLogger(__name__)

_REPEATED = re.compile(r"(.)(?=\1)", re.S)  # deleting these collapses "fuuuck" to "fuck" (3x faster than \1+)
_RUNS = re.compile(r"(.)\1*", re.S)
_STRETCH = 3  # a character repeated this often may stand for fewer letters
_QUOTES = re.compile("['\"]+")


def _skeleton(text: str, view: View) -> str:
    """Return *text* with each character replaced by its class (same length, same offsets)."""
    if text.isascii():
        return text.translate(view.skeleton)  # CPython's fast path: ASCII in, ASCII table
    # str.translate looks every non-ASCII character up one by one; the table only changes ASCII
    # characters, which UTF-8 never uses inside a multi-byte sequence, so bytes.translate on the
    # UTF-8 form is exact and about 10x faster.
    return text.encode("utf-8", "surrogatepass").translate(view.byte_skeleton).decode("utf-8", "surrogatepass")


def _stretched_lookup(text: str, entries: tuple[Entry, ...]) -> str | None:
    """Return the entry whose leetspeak variant *text* is, a letter possibly stretched ("fuuuck")."""
    runs: list[tuple[str, int]] | None = None
    for word, combos in entries:
        size = len(combos)
        if len(text) <= size:  # nothing repeated: a plain variant, as better-profanity compares
            if len(text) == size and all(c in cs for c, cs in zip(text, combos, strict=True)):
                return word
            continue
        if runs is None:
            runs = [(m.group(1), m.end() - m.start()) for m in _RUNS.finditer(text)]
        states = {0}  # how many characters of the entry the text read so far can stand for
        for char, count in runs:
            after: set[int] = set()
            for j in states:
                k = j  # a run of `count` equal characters stands for k - j characters of the entry
                while k < size and k - j < count and char in combos[k]:
                    k += 1
                    # Only a run of three or more is a stretch: English doubles letters all the
                    # time, and "good" must not read as "god", "assess" as "asses".
                    if count >= _STRETCH or k - j == count:
                        after.add(k)
            states = after
            if not states:
                break
        if size in states:
            return word
    return None


class _Words:
    """The words of one normalised text, split twice: as written, and with repeated letters collapsed."""

    __slots__ = ("keys", "parts", "raw_parts", "offs", "norm", "count", "view")

    def __init__(self, parts: list[str], raw_parts: list[str], norm: str, view: View) -> None:
        # parts/raw_parts alternate separator, word, separator, ...: word k is parts[2k+1]. Both
        # splits have the same words, since collapsing never turns a letter into a separator.
        self.keys, self.parts, self.raw_parts, self.norm = parts[1::2], parts, raw_parts, norm
        self.offs = list(accumulate(map(len, raw_parts), initial=0))  # word k: offs[2k+1]:offs[2k+2]
        self.count = len(self.keys)
        self.view = view

    def join(self, joined: str, j: int) -> str:
        """Append the key of word *j* to *joined*, collapsing a letter repeated across the gap."""
        key = self.keys[j]
        return joined + key[1:] if self.norm[self.offs[2 * j] - 1] == self.norm[self.offs[2 * j + 1]] else joined + key

    def may_continue(self, i: int, prefixes: frozenset[str]) -> bool:
        """Return True if word *i* joined with word i+1 (either way) is a prefix of some entry key."""
        if i + 1 >= self.count:
            return False
        return self.join(self.keys[i], i + 1) in prefixes or self.with_separators(i, i + 1) in prefixes

    def with_separators(self, i: int, j: int) -> str:
        """Return the collapsed skeleton of words i..j with the separators between them."""
        return "".join(self.parts[2 * i + 1 : 2 * j + 2])

    def same_letter(self, i: int, j: int) -> bool:
        """Return True if words *i* and *j* start with the same character (not just the same class)."""
        return self.norm[self.offs[2 * i + 1]] == self.norm[self.offs[2 * j + 1]]

    def run_end(self, i: int) -> int:
        """Return the index after the run of single-letter words equal to word *i*."""
        j = i + 1
        while j < self.count and self.keys[j] == self.keys[i] and self.same_letter(i, j):
            j += 1
        return j

    def span(self, i: int, j: int) -> tuple[int, int]:
        """Return the span of words i..j in the normalised text."""
        return self.offs[2 * i + 1], self.offs[2 * j + 2]

    def text(self, i: int, j: int, with_separators: bool) -> str:
        """Return words i..j as written in the normalised text, with or without the separators."""
        if with_separators:
            return self.norm[self.offs[2 * i + 1] : self.offs[2 * j + 2]]
        return "".join(self.norm[self.offs[2 * k + 1] : self.offs[2 * k + 2]] for k in range(i, j + 1))


def find_matches(lex: Lexicon, norm: str) -> list[Span]:
    """Return the matches in normalised text *norm* as (start, end, entry), left to right."""
    view = lex.coarse if any(c in norm for c in lex.wildcards) else lex.fine
    split = lex.split_re_bmp
    if not norm.isascii() and ASTRAL.search(norm):
        # Emoji and other astral symbols are separators; a BMP stand-in of the same length keeps
        # the offsets and lets the 4x faster BMP regex do the split. Astral letters (rare) stay.
        norm = ASTRAL.sub(lambda m: m.group() if m.group() in lex.word_chars else "\ufffd", norm)
        split = lex.split_re if ASTRAL.search(norm) else split
    skel = _skeleton(norm, view)
    collapsed = _skeleton(_REPEATED.sub("", norm), view)
    parts = split.split(collapsed)  # C-level splits: words and separators, no match objects
    raw_parts = split.split(skel)  # the same words, repeated letters kept
    keys, written = parts[1::2], raw_parts[1::2]
    table, plain, prefixes = view.stretched, view.plain, view.prefixes
    after = [*keys[1:], ""]
    # Cheap screen in one comprehension. A match starting at word k needs the word itself to
    # be an entry -- by its plain skeleton when no letter repeats ("as" is not "ass"), else by
    # its collapsed one -- or the word joined to the next one (with or without separators, with
    # or without a letter repeated at the junction) to be a prefix of an entry's key.
    starts_at = [
        k for k, key in enumerate(keys)
        if key in prefixes and (
            (written[k] in plain if len(written[k]) == len(key) else key in table)
            or (nxt := after[k]) != ""
            and (
                key + nxt in prefixes
                or key + parts[2 * k + 2] + nxt in prefixes
                or key[-1] == nxt[0] and key + nxt[1:] in prefixes
            )
        )
    ]
    if "'" in norm or '"' in norm:  # "fuck's", "f'u'c'k": see _single
        quoted = [k for k, key in enumerate(keys) if ("'" in key or '"' in key) and _may_match_quoted(key, prefixes)]
        starts_at = sorted({*starts_at, *quoted})
    if not starts_at:
        return []
    words = _Words(parts, raw_parts, norm, view)
    spans: list[Span] = []
    resume, run_end = 0, 0
    for i in starts_at:
        key = keys[i]
        if i < resume:
            continue
        if len(key) == 1 and i > 0 and keys[i - 1] == key and words.same_letter(i - 1, i):
            # Inside "u u u u": while three or more of the letter follow, starting one letter
            # earlier finds everything starting here would; skipping keeps this linear.
            run_end = run_end if i < run_end else words.run_end(i)
            if run_end - i >= _STRETCH:
                continue
        found = _longest(lex, words, i) if words.may_continue(i, prefixes) else None
        if found is not None:
            end_word, entry = found
            spans.append((*words.span(i, end_word), entry))
            resume = end_word + 1
        else:  # the common case: only the word itself can match
            span = _single(lex, words, i)
            if span is not None:
                spans.append(span)
                resume = i + 1
    return spans


def _may_match_quoted(key: str, prefixes: frozenset[str]) -> bool:
    """Return whether _single may match a word whose collapsed key has quotes inside (a cheap screen)."""
    pieces = _QUOTES.split(key)
    # Letters spelled one by one are always checked (joining them may collapse letters); otherwise
    # the first piece is the collapsed skeleton of the part _single looks up.
    return all(len(piece) == 1 for piece in pieces) or pieces[0] in prefixes


def _single(lex: Lexicon, words: _Words, i: int) -> Span | None:
    """Return the match of word *i* alone (leetspeak, stretched letters, contractions), or None."""
    start, end = words.span(i, i)
    text = words.norm[start:end]
    written, key = words.raw_parts[2 * i + 1], words.keys[i]
    if "'" in key or '"' in key:
        # Quotes inside a word, as better-profanity reads them: "isn't" is one word, not "isn"
        # and "t" (which would join "t its" into "tits"). A word spelled letter by letter
        # ("f'u'c'k") is read as its letters; otherwise the part before the first quote is the
        # word ("fuck's", "shit'll") and the rest is left alone.
        pieces = _QUOTES.split(text)
        if all(len(set(piece)) == 1 for piece in pieces):
            text = "".join(pieces)
        else:
            text = pieces[0]
            end = start + len(text)
        written = _skeleton(text, words.view)
        key = _skeleton(_REPEATED.sub("", text), words.view)
    if len(written) == len(key):
        # Nothing repeated in the word ("as"): it can only be a plain variant, so look up the
        # uncollapsed skeleton, which keeps "as" apart from "ass".
        entries = words.view.plain.get(written, ())
    else:
        entries = words.view.stretched.get(key, ())
    entry = _stretched_lookup(text, entries) if entries else None
    return (start, end, entry) if entry is not None and text not in lex.allowed else None


def _longest(lex: Lexicon, words: _Words, i: int) -> tuple[int, str] | None:
    """Return (last word, entry) of the longest match starting at word *i*, or None."""
    table, prefixes, limit = words.view.stretched, words.view.prefixes, lex.max_combinations
    keys, first = words.keys, words.keys[i]
    joined_hits: list[tuple[int, str]] = [(i, first)] if first in table else []
    stretching = False  # whether joined_hits[-1] is a longer run of the letter of the hit before it
    sep_hits: list[tuple[int, str]] = []
    joined: str | None = first
    sep_alive, single = True, len(first) == 1
    for j in range(i + 1, words.count):
        key = keys[j]
        near = j - i <= limit
        single = single and len(key) == 1
        if not near and not single:
            break  # like better-profanity, words are joined over at most `limit` separators,
        if joined is not None:  # except letters spelled one by one ("f u c k", "f.u.c.k")
            joined = words.join(joined, j)
            if joined not in prefixes:
                joined = None
            elif joined in table:
                # The same letter again is the same word, stretched: keep the first hit and the
                # longest stretch only, so a long run costs one verification, not one per letter.
                extends = bool(joined_hits) and joined_hits[-1] == (j - 1, joined) and len(key) == 1
                if extends and stretching:
                    joined_hits[-1] = (j, joined)
                else:
                    joined_hits.append((j, joined))
                stretching = extends
        if sep_alive and near:
            sep_key = words.with_separators(i, j)
            sep_alive = sep_key in prefixes
            if sep_alive and sep_key in table:
                sep_hits.append((j, sep_key))
        if joined is None and not (sep_alive and near):
            break
    # Longest first; at equal length the joined form, so "f.u.c.k" reports "fuck".
    for j, joined_form, key in sorted([(j, 1, k) for j, k in joined_hits] + [(j, 0, k) for j, k in sep_hits])[::-1]:
        text = words.text(i, j, with_separators=not joined_form)
        entry = _stretched_lookup(text, table[key])
        if entry is not None and text not in lex.allowed:
            return j, entry
    return None
