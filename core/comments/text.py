"""Text normalisation and validation applied at the edge, identically for every database."""

from __future__ import annotations

import re
import unicodedata

#: Control characters allowed in a comment body; everything else in Cc is rejected.
BODY_CONTROLS = frozenset("\n\r\t")
#: Characters that render as nothing: a body made only of these (and spaces) is empty.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp"})


#: Every character :func:`find_problem` accepts: all but the C0 and C1 controls (category Cc), the surrogates (Cs)
#: and the 66 noncharacters. A pattern of what is *not* in it finds the first suspect character in C, scanning
#: about 5 ns a character (listing the suspects instead made the engine test each character against every
#: astral one: 45 ns); looking at each character in Python was 5 % of a POST's CPU.
_ACCEPTED = "\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd" + "".join(
    f"{chr(plane << 16)}-{chr(plane << 16 | 0xFFFD)}" for plane in range(1, 17))
_SUSPECT = re.compile(f"[^{_ACCEPTED}]")
#: The same for a multi-line field, whose tabs and line breaks are not suspect (a body has a few of them).
_SUSPECT_MULTILINE = re.compile(f"[^\t\n\r{_ACCEPTED}]")


def find_problem(value: str, *, multiline: bool) -> str | None:
    """Return why *value* cannot be stored (NUL, lone surrogate, control or noncharacter), or None."""
    allowed = BODY_CONTROLS if multiline else frozenset()
    for match in (_SUSPECT_MULTILINE if multiline else _SUSPECT).finditer(value):
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
