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
