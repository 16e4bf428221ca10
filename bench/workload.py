"""The comments every benchmark posts or pre-inserts: realistic 300-character texts, 10 % of them profane."""

from __future__ import annotations

import json
import random

from bench.bench_profanity import COMMON, PROFANE, PUNCTUATION

BODY_CHARS = 300
PROFANE_SHARE = 0.10
POOL = 1000


def body(size: int, seed: int, profane: bool) -> str:
    """Return a comment of *size* characters of plain prose; one profane word somewhere if *profane*."""
    rng = random.Random(seed)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(COMMON)
        if not words or words[-1].endswith((". ", "! ", "? ", "\n")):
            word = word.capitalize()
        piece = word + rng.choice(PUNCTUATION)
        words.append(piece)
        length += len(piece)
    if profane:
        words.insert(rng.randrange(len(words)), rng.choice(PROFANE) + " ")
    text = "".join(words)[:size].rstrip()
    return text + "." if len(text) < size else text


def bodies(count: int = POOL, size: int = BODY_CHARS, seed: int = 7) -> list[str]:
    """Return *count* comment texts; every tenth one is profane."""
    return [body(size, seed * 100_003 + i, profane=(i % round(1 / PROFANE_SHARE) == 3)) for i in range(count)]


class Payloads:
    """Pre-encoded POST bodies and per-request client addresses (``X-Forwarded-For``, with PROXY_HOPS=1)."""

    def __init__(self, lang: str = "fr", count: int = POOL, addresses: int = 1000, tag: str = "bench") -> None:
        """Encode *count* comments in *lang* on threads tagged *tag*, from *addresses* clients."""
        texts = bodies(count)
        self.payloads = [
            json.dumps({"thread": f"{tag}/t{i % 50}", "author": f"reader {i % 97}", "body": t, "lang": lang}).encode()
            for i, t in enumerate(texts)
        ]
        # Many distinct clients, as on a real site: the per-address rate-limit row is not one hot spot.
        self.addresses = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(addresses)]

    def __call__(self, n: int) -> tuple[bytes, dict[str, str]]:
        """Return the body and headers of request *n*."""
        return self.payloads[n % len(self.payloads)], {"X-Forwarded-For": self.addresses[n % len(self.addresses)]}


def _word(n: int) -> str:
    """Spell *n* in letters (the spam fingerprint ignores digits, not words)."""
    letters = ""
    while True:
        n, rest = divmod(n, 26)
        letters += chr(ord("a") + rest)
        if not n:
            return letters


class DistinctPayloads(Payloads):
    """Payloads as a real site's: every text distinct and up to 250,000 client addresses, so the spam signals
    that count repeats (copies, bursts) keep their defaults and count what they would in production."""

    def __init__(self, lang: str = "fr", addresses: int = 100_000, tag: str = "bench") -> None:
        """Texts of the pool each made distinct per request, from *addresses* clients."""
        super().__init__(lang=lang, addresses=0, tag=tag)
        self.rows = [json.loads(payload) for payload in self.payloads]
        self.addresses = [f"10.{i // 62_500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(addresses)]

    def __call__(self, n: int) -> tuple[bytes, dict[str, str]]:
        """Return request *n*'s body (its pool text and a word of its own) and headers."""
        row = self.rows[n % len(self.rows)]
        body = json.dumps({**row, "body": f"{row['body']} {_word(n)}"}).encode()
        return body, {"X-Forwarded-For": self.addresses[n % len(self.addresses)]}
