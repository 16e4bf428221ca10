"""Where webhooks may go: refuse Parley's own host and internal addresses (server-side request forgery).

The host is resolved and every address it resolves to is checked; the delivery then connects to one of
those checked addresses (pinned), so a DNS answer that changes between the check and the connection
(rebinding) cannot redirect it. Loopback, private, link-local, unspecified, multicast and reserved
addresses are refused unless WEBHOOK_ALLOW_PRIVATE is set; the cloud metadata addresses always are.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from core.config import Settings
from core.errors import ValidationError

#: Cloud instance metadata (AWS, GCP, Azure, OpenStack; AWS IPv6): never a webhook target.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _internal(address: Address) -> bool:
    """Tell whether *address* is not a public internet address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
            or address.is_multicast or address.is_reserved or not address.is_global)


def resolve(host: str, port: int) -> list[Address]:
    """Return every address *host* resolves to (raise ValidationError when it resolves to none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(f"webhook host {host!r} does not resolve ({exc})") from None
    found = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not found:
        raise ValidationError(f"webhook host {host!r} does not resolve")
    return found


def check(url: str, settings: Settings) -> tuple[str, int, list[Address]]:
    """Check webhook *url*; return its host, port and the checked addresses to connect to.

    Raises:
        ValidationError: not http(s), no host, Parley's own host, or an address it may not reach.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("a webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise ValidationError("a webhook URL may not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("the webhook URL's port is not a number") from None
    host = parts.hostname.lower().rstrip(".")
    own = urlsplit(settings.public_base_url) if settings.public_base_url else None
    if own and own.hostname and host == own.hostname.lower().rstrip(".") and port == (
            own.port or (443 if own.scheme == "https" else 80)):
        raise ValidationError("a webhook may not point at Parley itself")
    addresses = resolve(host, port)
    for address in addresses:
        if address in METADATA or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped in METADATA):
            raise ValidationError(f"a webhook may not point at the metadata address {address}")
        if _internal(address) and not settings.webhook_allow_private:
            raise ValidationError(f"{host} resolves to {address}, an internal address "
                                  "(set WEBHOOK_ALLOW_PRIVATE=1 to allow it)")
    return host, port, addresses
