"""Compile better-profanity's word list and leetspeak rules into hash-lookup tables, once per engine."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.profanity_normalize import normalize_text

logger = logging.getLogger(__name__)

# An entry as the matchers see it: the entry itself and, per character, the characters that may
# stand for it in the text (better-profanity's CHARS_MAPPING, or the character alone).
Entry = tuple[str, tuple[frozenset[str], ...]]
Table = dict[str, tuple[Entry, ...]]


@dataclass(frozen=True)
class Lexicon:
    """Immutable lookup tables shared by every check of one engine."""

    word_re: re.Pattern[str]  # better-profanity's words: runs of ALLOWED_CHARACTERS
    norm_word_re: re.Pattern[str]  # the same, with quotes trimmed from both ends of a word
    skeleton: dict[int, str]  # str.translate table: every character to its leetspeak class
    exact: Table  # skeleton of an entry -> entries (better-profanity semantics)
    exact_prefixes: frozenset[str]
    stretched: Table  # skeleton of a collapsed variant -> entries (normalising semantics)
    stretched_prefixes: frozenset[str]
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


def _skeleton_table(mapping: dict[str, tuple[str, ...]]) -> dict[int, str]:
    """Map each character to one representative of its leetspeak class (union-find over CHARS_MAPPING)."""
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for letter, subs in mapping.items():
        for sub in subs:
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
    return {k: tuple(sorted(v)) for k, v in table.items()}, prefixes


def build_lexicon(banned: Iterable[str] = (), allowed: Iterable[str] = ()) -> Lexicon:
    """Load better-profanity's list, leetspeak map and word characters, add *banned*, drop *allowed*."""
    # Imported here, never at module level: the web process imports core.profanity but must not
    # pay for (or depend on) better_profanity.
    from better_profanity import Profanity
    from better_profanity.utils import read_wordlist

    reference = Profanity()
    mapping: dict[str, tuple[str, ...]] = dict(reference.CHARS_MAPPING)
    word_chars: set[str] = set(reference.ALLOWED_CHARACTERS)
    raw_words = list(read_wordlist(reference._default_wordlist_filename))
    raw_words += [w.strip() for w in banned if w and w.strip()]
    allowed_lower = {w.strip().lower() for w in allowed if w and w.strip()}
    allowed_norm = frozenset(normalize_text(w)[0] for w in allowed_lower)

    # Exact entries follow better-profanity: lower(), then the whitelist removes equal entries.
    exact_words = {w.lower() for w in raw_words} - allowed_lower
    norm_words = {normalize_text(w)[0] for w in exact_words} - allowed_norm
    skeleton = _skeleton_table(mapping)

    def combos(word: str) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(mapping.get(c, (c,))) for c in word)

    exact, exact_prefixes = _index((w.translate(skeleton), (w, combos(w))) for w in exact_words)
    stretched, stretched_prefixes = _index(
        (key, (w, combos(w))) for w in norm_words for key in _stretched_keys(w.translate(skeleton), combos(w))
    )
    max_combinations = max([1, *(sum(c not in word_chars for c in w) for w in exact_words)])
    word_class = _char_class(word_chars)
    inner_class = _char_class(word_chars - {"'", '"'})
    lexicon = Lexicon(
        word_re=re.compile(word_class + "+"),
        norm_word_re=re.compile(f"{inner_class}+(?:['\"]+{inner_class}+)*"),
        skeleton=skeleton,
        exact=exact,
        exact_prefixes=exact_prefixes,
        stretched=stretched,
        stretched_prefixes=stretched_prefixes,
        allowed=allowed_norm,
        max_combinations=max_combinations,
        size=len(exact_words),
    )
    logger.debug("Profanity lexicon: %d entries, %d stretched keys", len(exact_words), len(stretched))
    return lexicon
