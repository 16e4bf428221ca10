"""Text normalisation and validation applied at the edge, identically for every database."""

from __future__ import annotations

import re
import unicodedata

#: Control characters allowed in a comment body; everything else in Cc is rejected.
BODY_CONTROLS = frozenset("\n\r\t")
#: Characters that render as nothing: a body made only of these (and spaces) is empty.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp"})


#: Every character :func:`find_problem` may refuse: C0 and C1 controls (category Cc), surrogates (Cs) and the
#: 66 noncharacters. One pattern finds the first of them in C; looking at each character in Python was 5 % of a
#: POST's CPU.
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                      + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
                      + "]")


def find_problem(value: str, *, multiline: bool) -> str | None:
    """Return why *value* cannot be stored (NUL, lone surrogate, control or noncharacter), or None."""
    allowed = BODY_CONTROLS if multiline else frozenset()
    for match in _SUSPECT.finditer(value):
        index, char = match.start(), match.group()
        category = unicodedata.category(char)
        if char == "\x00":
            return f"contains a NUL character at position {index}"
        if category == "Cs":
            return f"contains a lone surrogate at position {index}"
        if category == "Cc" and char not in allowed:
            return f"contains control character U+{ord(char):04X} at position {index}"
        if 0xFDD0 <= ord(char) <= 0xFDEF or (ord(char) & 0xFFFE) == 0xFFFE:
            return f"contains noncharacter U+{ord(char):04X} at position {index}"
    return None


def normalize(value: str, *, multiline: bool = False) -> str:
    """Return *value* in NFC with newlines unified (CRLF/CR → LF) and outer whitespace stripped."""
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", value).strip()


def is_blank(value: str) -> bool:
    """Tell whether *value* shows nothing: only whitespace, format and combining characters."""
    return all(char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in value)


def clean_field(
    value: object, *, name: str, max_chars: int, multiline: bool = False, required: bool = True
) -> tuple[str | None, str | None]:
    """Validate one text field; return ``(clean_value, None)`` or ``(None, reason)``."""
    if value is None:
        return (None, f"{name} is required") if required else (None, None)
    if not isinstance(value, str):
        return None, f"{name} must be a string"
    problem = find_problem(value, multiline=multiline)
    if problem:
        return None, f"{name} {problem}"
    value = normalize(value, multiline=multiline)
    if is_blank(value):
        return (None, f"{name} must not be empty") if required else (None, None)
    if len(value) > max_chars:
        return None, f"{name} is longer than {max_chars} characters ({len(value)})"
    return value, None
