"""Compile better-profanity's word list and leetspeak rules into hash-lookup tables, once per engine."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.profanity.normalize import normalize_text

logger = logging.getLogger(__name__)

# An entry as the matchers see it: the entry itself and, per character, the characters that may
# stand for it in the text (better-profanity's CHARS_MAPPING, or the character alone).
Entry = tuple[str, tuple[frozenset[str], ...]]
Table = dict[str, tuple[Entry, ...]]
Span = tuple[int, int, str]  # a match: start, end, entry
ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # texts without these use the BMP regexes
CENSOR = "****"  # better-profanity replaces a whole match, whatever its length, with four censor chars


@dataclass(frozen=True)
class View:
    """Lookup tables keyed by one skeleton (a mapping of characters to leetspeak classes)."""

    skeleton: dict[int, str]  # str.translate table: every character to its class representative
    byte_skeleton: bytes  # the same for bytes.translate (the table only maps ASCII characters)
    plain: Table  # skeleton of an entry -> entries (a word without repeated letters)
    stretched: Table  # skeleton of a collapsed variant -> entries ("fuuuck" collapsed is "fuck")
    prefixes: frozenset[str]  # every prefix of every key, for early exits


@dataclass(frozen=True)
class Lexicon:
    """Immutable lookup tables shared by every check of one engine."""

    word_re: re.Pattern[str]  # better-profanity's words: runs of ALLOWED_CHARACTERS
    word_re_bmp: re.Pattern[str]  # the same for texts without astral characters (4x faster)
    split_re: re.Pattern[str]  # normalised words (quotes only inside), as a capturing split
    split_re_bmp: re.Pattern[str]
    exact: View  # better-profanity's entries (lower()), coarse skeleton
    coarse: View  # normalised entries, coarse skeleton: right for any text
    fine: View  # normalised entries, fine skeleton: right for texts without wildcards, and faster
    word_chars: frozenset[str]  # better-profanity's ALLOWED_CHARACTERS
    wildcards: str  # substitutes that stand for letters of several classes ("*", "@")
    allowed: frozenset[str]  # normalised allowed words: never reported
    max_combinations: int  # better-profanity's MAX_NUMBER_COMBINATIONS
    size: int  # number of entries


def _char_class(chars: Iterable[str]) -> str:
    """Return a regex character class matching exactly *chars*, written as code point ranges."""
    points = sorted(ord(c) for c in chars)
    ranges: list[list[int]] = []
    for p in points:
        if ranges and p == ranges[-1][1] + 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    return "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges) + "]"


def _quoted_words(letters: str) -> str:
    """Return a capturing pattern for words of *letters* with quotes inside but not at either end."""
    # '"fuck"' is the word fuck, but "isn't" stays one word as in better-profanity.
    return f"({letters}+(?:['\"]+{letters}+)*)"


def _skeleton_table(mapping: dict[str, tuple[str, ...]], ignore: frozenset[str] = frozenset()) -> dict[int, str]:
    """Map each character to one representative of its leetspeak class (union-find over CHARS_MAPPING)."""
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for letter, subs in mapping.items():
        for sub in subs:
            if sub not in ignore:
                parent[find(sub)] = find(letter)
    classes: dict[str, list[str]] = {}
    for c in list(parent):
        classes.setdefault(find(c), []).append(c)
    # Two characters that may ever stand for the same letter share a class, so a text word can
    # only equal a variant of an entry if their skeletons are equal: a necessary condition that
    # turns the linear scan into one dict lookup.
    return {ord(c): min(members) for members in classes.values() for c in members}


def _stretched_keys(skeleton: str, combos: tuple[frozenset[str], ...]) -> set[str]:
    """Return the skeletons of every collapsed variant of an entry (a superset: verification is exact)."""
    keys = {skeleton[0]}
    for j in range(1, len(combos)):
        shared = combos[j - 1] & combos[j]
        if len(combos[j]) == 1 and combos[j - 1] == combos[j]:
            continue  # "bb": both letters are always the same character, so they always collapse
        if shared:  # "ss" or "ai" (both may be "*"): the variant may or may not collapse here
            keys |= {k + skeleton[j] for k in keys}
        else:
            keys = {k + skeleton[j] for k in keys}
    return keys


def _index(pairs: Iterable[tuple[str, Entry]]) -> tuple[Table, frozenset[str]]:
    """Group entries by key and collect every prefix of every key (for early exits)."""
    table: dict[str, list[Entry]] = {}
    for key, entry in pairs:
        if entry not in table.setdefault(key, []):
            table[key].append(entry)
    prefixes = frozenset(key[:k] for key in table for k in range(1, len(key) + 1))
    # Longest entries first: the least stretched reading wins ("xxx" reads "xxx", not "xx" stretched).
    return {k: tuple(sorted(v, key=lambda e: (-len(e[1]), e[0]))) for k, v in table.items()}, prefixes


def _view(entries: list[Entry], skeleton: dict[int, str]) -> View:
    """Index *entries* by their plain and stretched skeletons."""
    plain, plain_prefixes = _index((w.translate(skeleton), (w, c)) for w, c in entries)
    stretched, prefixes = _index(
        (key, (w, c)) for w, c in entries for key in _stretched_keys(w.translate(skeleton), c)
    )
    byte_skeleton = bytes(ord(skeleton.get(b, chr(b))) for b in range(256))
    return View(skeleton, byte_skeleton, plain, stretched, prefixes | plain_prefixes)


def build_lexicon(banned: Iterable[str] = (), allowed: Iterable[str] = ()) -> Lexicon:
    """Load better-profanity's list, leetspeak map and word characters, add *banned*, drop *allowed*."""
    # Imported here, never at module level: the web process imports core.profanity.engine but must not
    # pay for (or depend on) better_profanity.
    from better_profanity import Profanity
    from better_profanity.utils import read_wordlist

    if isinstance(banned, str) or isinstance(allowed, str):
        raise TypeError("banned and allowed are collections of words, not a single string")
    reference = Profanity()
    mapping: dict[str, tuple[str, ...]] = dict(reference.CHARS_MAPPING)
    word_chars: set[str] = set(reference.ALLOWED_CHARACTERS)
    if any(len(c) != 1 for c in mapping) or any(len(sub) != 1 for subs in mapping.values() for sub in subs):
        # Skeletons translate character for character; VaryingString would also allow longer or
        # empty substitutes, which 0.7.0 does not use. Refuse rather than match wrongly.
        raise RuntimeError(f"unsupported better-profanity CHARS_MAPPING: {mapping!r}")
    raw_words = list(read_wordlist(reference._default_wordlist_filename))
    raw_words += [w.strip() for w in banned if w and w.strip()]
    allowed_lower = {w.strip().lower() for w in allowed if w and w.strip()}
    allowed_norm = frozenset(normalize_text(w)[0] for w in allowed_lower)

    # Exact entries follow better-profanity: lower(), then the whitelist removes equal entries.
    exact_words = {w.lower() for w in raw_words} - allowed_lower
    norm_words = {normalize_text(w)[0] for w in exact_words} - allowed_norm - {""}  # "" if only marks

    def combos(word: str) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(mapping.get(c, (c,))) for c in word)

    # "*" may stand for a, e, i, o, u or v, so with it every vowel shares one class and half the
    # words of a text look like prefixes of some entry. Texts without such wildcards use a finer
    # skeleton (a, e, i/l, o, u/v apart); verification is exact either way.
    letters_of: dict[str, set[str]] = {}
    for letter, subs in mapping.items():
        for sub in subs:
            letters_of.setdefault(sub, set()).add(letter)
    wildcards = "".join(sorted(c for c, ls in letters_of.items() if not c.isalnum() and len(ls) > 1))
    coarse, fine = _skeleton_table(mapping), _skeleton_table(mapping, ignore=frozenset(wildcards))
    exact_entries = [(w, combos(w)) for w in sorted(exact_words)]
    norm_entries = [(w, combos(w)) for w in sorted(norm_words)]
    max_combinations = max([1, *(sum(c not in word_chars for c in w) for w in exact_words)])
    # sre only compiles a character class into a fast bitmap when it stays in the BMP; the full
    # class (with astral letters and variation selectors) is a range scan, so it is kept for
    # the texts that need it.
    bmp = {c for c in word_chars if ord(c) < 0x10000}
    unquoted = word_chars - {"'", '"'}
    lexicon = Lexicon(
        word_re=re.compile(_char_class(word_chars) + "+"),
        word_re_bmp=re.compile(_char_class(bmp) + "+"),
        split_re=re.compile(_quoted_words(_char_class(unquoted))),
        split_re_bmp=re.compile(_quoted_words(_char_class(unquoted & bmp))),
        exact=_view(exact_entries, coarse),
        coarse=_view(norm_entries, coarse),
        fine=_view(norm_entries, fine),
        word_chars=frozenset(word_chars),
        wildcards=wildcards,
        allowed=allowed_norm,
        max_combinations=max_combinations,
        size=len(exact_words),
    )
    logger.debug("Profanity lexicon: %d entries, wildcards %r", len(exact_words), wildcards)
    return lexicon
