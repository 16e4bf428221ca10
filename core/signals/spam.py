"""Spam signals of one comment, as pure functions: links, the normalised fingerprint, and the verdict of them all.

The counts they judge (copies of a fingerprint, bursts, bans, new author, trust) are read by the check's claim
(:mod:`core.signals.inputs`); nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.comments.validation import NewComment
from core.config import Settings
from core.signals import identity

#: A link: anything after http(s):// or www., or a bare domain followed by a path ("spam.example/buy").
#: A bare domain alone ("example.com") is not counted: too many ordinary words look like one (file.py, e.g.).
_LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|(?<![\w@./-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}/[^\s<>\"']*",
    re.IGNORECASE,
)
#: Below this many letters a text is too common to be a copy ("Thanks!", "+1", "great post"): no fingerprint.
MIN_FINGERPRINT_CHARS = 20
#: The reasons a comment is flagged for, in the order they are listed (the contract's names).
REASONS = ("profanity", "model", "links", "duplicate", "burst", "honeypot", "banned")
#: The signals a trusted author skips (recorded, never a reason).
SOFT = ("links", "model", "burst")


def links(text: str) -> int:
    """Return the number of links in *text* (see ``_LINK`` for what counts as one)."""
    # Every link has a "/" or a "www.": most comments have neither, and the pattern tries each word of them as
    # a domain, backtracking over its letters (7 % of a check's Python time before this test).
    if "/" not in text and "www." not in text.lower():
        return 0
    return len(_LINK.findall(text))


#: ASCII bytes that are not letters become spaces; the rest (ASCII letters, and every byte of UTF-8's multi-byte
#: sequences, which never uses an ASCII byte) stays: bytes.translate on the UTF-8 form, as the profanity engine does.
_ASCII_NON_LETTERS = bytes(b if b >= 128 or chr(b).isalpha() else 32 for b in range(256))


def _letter_runs(text: str) -> list[str]:
    """Return the maximal runs of letters (str.isalpha) of *text*, in order.

    The ASCII separators go in one C call; a token left with a non-letter outside ASCII ("’", "½") is split by
    str.isalpha character by character. Looking at every character in Python was 3 % of a POST's CPU.
    """
    spaced = text.encode("utf-8", "surrogatepass").translate(_ASCII_NON_LETTERS).decode("utf-8", "surrogatepass")
    runs: list[str] = []
    for token in spaced.split():
        if token.isalpha():
            runs.append(token)
        else:
            runs.extend("".join(ch if ch.isalpha() else " " for ch in token).split())
    return runs


def fingerprint(body: str) -> str | None:
    """Return the SHA-256 hex of *body* normalised, or None for a text too short to be a meaningful copy.

    Normalised: NFKC, casefolded, every character that is not a letter dropped (punctuation, digits, emoji,
    so "Buy now 1!!" and "buy now 2" are the same text), whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", body).casefold()
    normal = " ".join(_letter_runs(text))
    if len(normal.replace(" ", "")) < MIN_FINGERPRINT_CHARS:
        return None
    return hashlib.sha256(normal.encode()).hexdigest()


def stamped(new: NewComment, settings: Settings, address: str | None) -> NewComment:
    """Return *new* with what the check's copies and bursts are counted by: its fingerprint and client hash."""
    return replace(new, fingerprint=fingerprint(new.body), client_hash=identity.client_hash(settings, address))


@dataclass(frozen=True)
class Inputs:
    """What the signals of one comment are judged on (read with the check's claim)."""

    links: int = 0
    #: No earlier published comment by the same address or client.
    new_author: bool = True
    #: Copies of the fingerprint within the window, this one included (0: no fingerprint).
    duplicates: int = 0
    #: Comments by the same address, and by the same client, within the burst window, this one included.
    burst_email: int = 0
    burst_client: int = 0
    banned: bool = False
    trusted: bool = False
    honeypot: bool = False
    #: The word list's matches (body and author name).
    words: Sequence[str] = field(default_factory=tuple)


def evaluate(inputs: Inputs, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Return the signals (name -> value) and the reasons to flag a comment with *inputs*, in ``REASONS`` order.

    A trusted author's soft signals (links, burst) are recorded but never a reason; the word list, copies,
    the honeypot and bans always are.
    """
    signals: dict[str, Any] = {}
    found: set[str] = set()
    if inputs.words:
        signals["profanity"] = list(dict.fromkeys(inputs.words))
        found.add("profanity")
    if inputs.links:
        signals["links"] = inputs.links
        limit = settings.new_author_links_max if inputs.new_author else settings.links_max
        if inputs.new_author:
            signals["new_author"] = True
        if inputs.links > limit:
            found.add("links")
    if inputs.duplicates > 1:
        signals["duplicate"] = inputs.duplicates
        if inputs.duplicates > settings.duplicate_max:
            found.add("duplicate")
    burst = max(inputs.burst_email, inputs.burst_client)
    if burst > settings.burst_max:
        signals["burst"] = burst
        found.add("burst")
    if inputs.honeypot:
        signals["honeypot"] = True
        found.add("honeypot")
    if inputs.banned:
        signals["banned"] = True
        found.add("banned")
    if inputs.trusted:
        signals["trusted"] = True
        found -= set(SOFT)
    return signals, [reason for reason in REASONS if reason in found]


def holds(reasons: Sequence[str]) -> bool:
    """Tell whether *reasons* hold a comment (never shown): any reason but the word list, which only flags it."""
    return any(reason != "profanity" for reason in reasons)
