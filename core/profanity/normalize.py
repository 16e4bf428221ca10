"""Per-character text normalisation for the profanity engine, with a map back to the raw text."""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

logger = logging.getLogger(__name__)

# Uppercase lookalikes are mapped *before* case folding, because folding would turn them into
# lowercase letters that look like something else (Greek Η looks like H, its lowercase η like n).
_UPPER_CONFUSABLES = {
    # Cyrillic
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "І": "i", "Ј": "j", "Ԁ": "d", "Ԛ": "q", "Ԝ": "w",
    # Greek
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
}

# Lowercase lookalikes, applied after case folding. Only letters that are near-identical to a
# Latin letter in common fonts: small-caps-like shapes (Cyrillic т, н, м, в) are left alone so
# that ordinary Russian text is not rewritten into Latin words.
_LOWER_CONFUSABLES = {
    # Cyrillic
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "к": "k", "ѵ": "v", "ү": "y",
    # Greek
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x", "ϲ": "c",
    "ϳ": "j",
    # Latin letters without a decomposition that NFKC/NFD would strip
    "ı": "i", "ɩ": "i", "ɑ": "a", "ɡ": "g", "ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ŧ": "t",
    "ƅ": "b", "ɢ": "g",
    # Armenian
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g",
}

# Combining marks are dropped (they decorate a letter: "fu̶ck", "fück"). Zero-width and other
# format characters (Cf) are *kept*: they stay separators, as in better-profanity, and the
# engine joins letters split by separators itself, so "fuck\u200byou" still reads as two words.
_MARKS = frozenset({"Mn", "Me"})
_IRREGULAR = re.compile("[^\x01]")  # in the string of normalised lengths: a character that is not one-to-one


# Symbols that stand for a letter inside a word, beyond better-profanity's CHARS_MAPPING: "sh!t", "b!+ch",
# "he||o". They are separators for better-profanity, and at either end of a word they are punctuation
# ("shit!", "hi!", "C++"), so only a run between two word characters is read as letters, in a second
# reading (the first keeps them separators, so "fu!ck" still reads "fu ck" as better-profanity does).
# "|" becomes "l", which entries accept for "i" too; the replacement keeps every offset.
_INNER_LEET = re.compile(r"([^\W_]|[$@*])([!¡|+]+)(?=[^\W_]|[$@*])")
_SYMBOL_IN_WORD = re.compile(r"[!¡|+](?=[^\W_]|[$@*])")  # the cheap screen: a symbol right before a letter
_LEET_LETTERS = str.maketrans({"!": "i", "¡": "i", "|": "l", "+": "t"})


def inner_leet(norm: str) -> str | None:
    """Return normalised *norm* with "!", "¡", "|" and "+" inside words read as letters, or None if it has none."""
    if not _SYMBOL_IN_WORD.search(norm):  # "Hi! How are you?" stops here
        return None
    read, count = _INNER_LEET.subn(lambda m: m.group(1) + m.group(2).translate(_LEET_LETTERS), norm)
    return read if count else None


@lru_cache(maxsize=65536)
def normalize_char(ch: str) -> str:
    """Return the normalised form of one raw character ('' when it is dropped)."""
    if ch.isascii():
        return ch.lower()
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", ch):
        if c in _UPPER_CONFUSABLES:
            out.append(_UPPER_CONFUSABLES[c])
            continue
        for f in c.casefold():
            decomposed = unicodedata.normalize("NFD", f)
            kept = [d for d in decomposed if unicodedata.category(d) not in _MARKS]
            # Only use the decomposition when it stripped a mark: NFD also splits Hangul
            # syllables into jamo, which would change lengths for nothing.
            base = "".join(kept) if len(kept) != len(decomposed) else f
            out.extend(_LOWER_CONFUSABLES.get(b, b) for b in base)
    return "".join(out)


def is_dropped_mark(ch: str) -> bool:
    """Return True for a combining mark that normalisation deletes (it belongs to the letter before it)."""
    return not ch.isascii() and unicodedata.category(ch) in _MARKS and normalize_char(ch) == ""


def normalize_text(raw: str, keep: frozenset[str] = frozenset()) -> tuple[str, list[int] | None]:
    """Return the normalised text and, unless it is one-to-one, the raw index of each normalised character.

    Characters in *keep* are left as they are.
    """
    if raw.isascii():  # the common case: NFKC and case folding reduce to lower() on ASCII
        return raw.lower(), None
    table = {ord(c): c if c in keep else normalize_char(c) for c in set(raw)}
    norm = raw.translate(table)
    if all(len(v) == 1 for v in table.values()):
        return norm, None
    # Raw index of each normalised character: index i repeated len(normalised raw[i]) times. The
    # lengths come from a second translate and only the irregular characters (dropped marks,
    # expansions such as "ß") are visited in Python; the regular stretches are copied as ranges.
    lengths = raw.translate({k: chr(len(v)) for k, v in table.items()})
    starts: list[int] = []
    previous = 0
    for m in _IRREGULAR.finditer(lengths):
        i = m.start()
        starts += range(previous, i)
        starts += [i] * ord(m.group())
        previous = i + 1
    starts += range(previous, len(raw))
    return norm, starts
