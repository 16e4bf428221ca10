"""Show untrusted text safely: escaped, hidden and bidi characters made visible, matches highlighted."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from markupsafe import Markup, escape

#: Characters that reorder text (embeddings, overrides, isolates, marks).
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
#: Letters that render as blank space although they are not category Cf (Hangul fillers).
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
#: Controls that are fine in a body: they only break lines or indent.
LAYOUT_CONTROLS = frozenset("\n\t")
#: A run of hidden characters that changes character more often than this is shown as one marker.
MIXED_CODES = 4


def _is_emoji(char: str) -> bool:
    return unicodedata.category(char) in ("So", "Sk")


def is_hidden(text: str, index: int) -> bool:
    """Tell whether the character at *index* would be invisible or move other text around."""
    char = text[index]
    if char in BIDI_CONTROLS or char in BLANK_LETTERS:
        return True
    category = unicodedata.category(char)
    if char == "\u200d" and 0 < index < len(text) - 1:
        # A zero-width joiner between two emoji builds one emoji (a family, a flag); leave those alone.
        return not (_is_emoji(text[index - 1]) and _is_emoji(text[index + 1]))
    if category == "Cc":
        return char not in LAYOUT_CONTROLS and char != "\r"
    return category in ("Cf", "Zl", "Zp", "Co", "Cn")


def warnings(text: str | None) -> list[str]:
    """Return the badges *text* deserves: "bidi controls" and/or "invisible characters"."""
    if not text:
        return []
    found = []
    if any(char in BIDI_CONTROLS for char in text):
        found.append("bidi controls")
    if any(char not in BIDI_CONTROLS and is_hidden(text, i) for i, char in enumerate(text)):
        found.append("invisible characters")
    return found


def marker(char: str, count: int = 1) -> Markup:
    """Return the visible stand-in for *count* hidden *char*, e.g. ⟨U+202E⟩ or ⟨U+202E ×4990⟩, named in a title."""
    name = unicodedata.name(char, "unnamed character")
    code = f"U+{ord(char):04X}"
    times = f" ×{count}" if count > 1 else ""
    return Markup('<span class="invisible-char" title="{}">⟨{}⟩</span>').format(f"{code} {name}{times}", code + times)


def _mixed_marker(chars: str) -> Markup:
    """Return one stand-in for a run of different hidden characters, e.g. ⟨U+202D U+202E … ×4990⟩."""
    codes = [f"U+{ord(c):04X}" for c in dict.fromkeys(chars)]
    shown = " ".join(codes[:MIXED_CODES]) + (" …" if len(codes) > MIXED_CODES else "")
    title = f"{len(chars)} hidden characters: {', '.join(codes[:16])}" + (", …" if len(codes) > 16 else "")
    return Markup('<span class="invisible-char" title="{}">⟨{} ×{}⟩</span>').format(title, shown, len(chars))


def _hidden_run(chars: str) -> Markup:
    """Return the markers of consecutive hidden *chars*: one per repeated character, one in all if they alternate."""
    runs = [(m.group(1), len(m.group())) for m in re.finditer(r"(.)\1*", chars, re.DOTALL)]
    if len(runs) > MIXED_CODES:  # "\u202e\u202d" 2,000 times: one marker, not 4,000
        return _mixed_marker(chars)
    return Markup("").join(marker(char, count) for char, count in runs)


def _visible(text: str, offset: int, whole: str) -> Markup:
    """Escape *text* (a slice of *whole* starting at *offset*), replacing runs of hidden characters by markers."""
    # A run of 4,990 U+202E is one marker with a count: one marker each made a queue of 20 such comments 8.6 MB.
    pieces: list[Markup] = []
    start = i = 0
    while i < len(text):
        if not is_hidden(whole, offset + i):
            i += 1
            continue
        end = i + 1
        while end < len(text) and is_hidden(whole, offset + end):
            end += 1
        pieces.append(escape(text[start:i]))
        pieces.append(_hidden_run(text[i:end]))
        start = i = end
    pieces.append(escape(text[start:]))
    return Markup("").join(pieces)


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Return one case-insensitive regex for *words*, longest first (so "shitty" wins over "shit")."""
    unique = sorted({w for w in words if isinstance(w, str) and w.strip()}, key=len, reverse=True)
    if not unique:
        return None
    return re.compile("|".join(re.escape(w) for w in unique), re.IGNORECASE)


def show_text(text: str | None, words: Iterable[str] | None = None) -> Markup:
    """Return *text* as safe HTML: every piece escaped, hidden characters shown, *words* in ``<mark>``."""
    if text is None:
        return Markup("")
    text = str(text)
    pattern = _pattern(words or ())
    if pattern is None:
        return _visible(text, 0, text)
    pieces: list[Markup] = []
    last = 0
    for match in pattern.finditer(text):
        pieces.append(_visible(text[last:match.start()], last, text))
        pieces.append(Markup("<mark>{}</mark>").format(_visible(match.group(), match.start(), text)))
        last = match.end()
    pieces.append(_visible(text[last:], last, text))
    return Markup("").join(pieces)
