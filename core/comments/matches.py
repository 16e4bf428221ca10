"""What a check stores in ``comments.matched_words``: the body's words, and the author name's if it matched.

The column is a JSON list. Its strings are the entries matched in the body (as before the author was checked);
when the author name matched, one object follows them: ``{"source": "author", "words": [...], "censored": "..."}``,
the entries matched in the name and the name with each match replaced, shown to readers while flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

AUTHOR = "author"
BODY = "body"


def stored(body_words: Sequence[str], author_words: Sequence[str], censored_author: str) -> list[Any]:
    """Return the ``matched_words`` value for the words matched in the body and in the author name."""
    value: list[Any] = list(body_words)
    if author_words:
        value.append({"source": AUTHOR, "words": list(author_words), "censored": censored_author})
    return value


def body_words(value: Any) -> list[str]:
    """Return the words matched in the body, from a stored ``matched_words`` value."""
    return [word for word in value or [] if isinstance(word, str)]


def author_match(value: Any) -> dict[str, Any] | None:
    """Return the author name's match (``words``, ``censored``) from a stored ``matched_words``, or None."""
    for item in value or []:
        if isinstance(item, dict) and item.get("source") == AUTHOR:
            return item
    return None


def author_words(value: Any) -> list[str]:
    """Return the words matched in the author name, from a stored ``matched_words`` value."""
    match = author_match(value)
    return list(match["words"]) if match else []


def sources(body: Sequence[str], author: Sequence[str]) -> str:
    """Return where a check matched: "body", "author" or "body+author" (empty if nowhere)."""
    return "+".join(name for name, words in ((BODY, body), (AUTHOR, author)) if words)
