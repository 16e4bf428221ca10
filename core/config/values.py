"""Parsers of single settings: each reads one variable (or value) and raises ConfigError naming it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from core.errors import ConfigError
from core.languages import SUPPORTED_LANGUAGES


def integer(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """An integer setting of at least *minimum* (*default* when unset)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    """A number setting above *minimum* (*default* when unset)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= minimum:
        raise ConfigError(f"{name} must be > {minimum}, got {value}")
    return value


def power_of_two(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A power of two from *low* to *high* (*default* when unset)."""
    value = integer(env, name, default, minimum=low)
    if value > high or value & (value - 1):
        raise ConfigError(f"{name} must be a power of two from {low} to {high}, got {value}")
    return value


def choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of *choices*, case-insensitive (*default* when unset)."""
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def cron(env: Mapping[str, str], name: str, default: str) -> str:
    """A 5-field numeric cron expression in UTC (*default* when unset)."""
    value = " ".join(env.get(name, "").split()) or default
    fields = value.split(" ")
    allowed = set("0123456789*/,-")
    if len(fields) != 5 or not all(field and set(field) <= allowed for field in fields):
        raise ConfigError(f"{name} must be a 5-field numeric cron expression (UTC), got {value!r}")
    return value


def networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Parse a comma-separated list of IP addresses and CIDR networks (normalised, e.g. ``10.0.0.0/8``)."""
    networks = []
    for item in (part.strip() for part in env.get(name, "").split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"{name} must list IP addresses or CIDR networks, got {item!r}") from None
    return tuple(dict.fromkeys(networks))


def trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """TRUSTED_PROXIES; the legacy PROXY_HOPS alone means a proxy on this host (loopback), as it was used."""
    trusted = networks(env, "TRUSTED_PROXIES")
    if not trusted and integer(env, "PROXY_HOPS", 0):
        return ("127.0.0.1/32", "::1/128")
    return trusted


def origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Parse a comma-separated list of web origins (``https://host[:port]``), lowercased, without a slash."""
    origins = []
    for item in (part.strip().lower().rstrip("/") for part in env.get(name, "").split(",")):
        if not item:
            continue
        scheme, _, host = item.partition("://")
        if scheme not in ("http", "https") or not host or any(c in host for c in "/?#@ \t"):
            raise ConfigError(f"{name} must list origins like https://blog.example.com, got {item!r}")
        origins.append(item)
    return tuple(dict.fromkeys(origins))


def broker_nodes(url: str) -> tuple[str, ...]:
    """Split BROKER_URL into one AMQP URL per node: full URLs separated by commas (or ``;``, Dramatiq's own)."""
    nodes = tuple(part.strip() for part in url.replace(";", ",").split(",") if part.strip())
    if url.startswith("stub://"):
        return (url,)
    bad = [node for node in nodes if not node.startswith(("amqp://", "amqps://"))]
    if not nodes or bad:
        # A bare "host:port" after a comma is the one-URL form some clients take; Parley wants full URLs.
        raise ConfigError("BROKER_URL must be amqp[s]:// URLs separated by commas, one per node, got "
                          f"{(bad or [url])[0].rsplit('@', 1)[-1]!r}")
    return nodes


def targets(env: Mapping[str, str]) -> tuple[str, ...]:
    """TRANSLATION_TARGETS: supported language codes, in order, without repeats."""
    raw = env.get("TRANSLATION_TARGETS", "en")
    targets = tuple(dict.fromkeys(t.strip().lower() for t in raw.split(",") if t.strip()))
    unknown = [t for t in targets if t not in SUPPORTED_LANGUAGES]
    if unknown:
        raise ConfigError(f"TRANSLATION_TARGETS has unsupported codes: {', '.join(unknown)}")
    return targets
