"""The client's address and scheme behind trusted reverse proxies (``TRUSTED_PROXIES``), and only behind them.

Werkzeug's ProxyFix trusts the last N ``X-Forwarded-For`` entries whoever sent the request, so a client that
reaches the web directly could name any address (and dodge the per-address rate limits). This middleware
first asks who the direct peer is: only a peer in ``TRUSTED_PROXIES`` may set ``X-Forwarded-For`` and
``X-Forwarded-Proto``, and the client is then the right-most forwarded address that is not itself a trusted
proxy. ``X-Forwarded-Host``, ``X-Forwarded-Prefix`` and a ``SCRIPT_NAME`` header are never honoured: Parley
is always mounted at ``/`` (gunicorn runs with ``--forwarded-allow-ips ""`` so it does not apply them either).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Where the direct peer's address is kept once REMOTE_ADDR names the client.
PEER_KEY = "parley.peer_addr"
SCHEMES = frozenset({"http", "https"})


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the IP address in *text* (IPv4-mapped IPv6 unwrapped), or None when it is not one."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """WSGI middleware: rewrite REMOTE_ADDR and the URL scheme from a trusted proxy's forwarding headers."""

    def __init__(self, app: WSGIApplication, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(net, strict=False) for net in trusted)

    def is_trusted(self, text: str | None) -> bool:
        """Tell whether the address *text* lies in one of the trusted networks."""
        address = parse_address(text or "")
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """Return the client's address: the right-most forwarded hop that is not a trusted proxy."""
        client = peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
            address = parse_address(hop)
            if address is None:
                break  # garbage (e.g. "unknown"): keep the nearest hop we could vouch for
            client = str(address)
            if not self.is_trusted(client):
                break
        return client

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve the request with the client's address, taken from the headers only if the peer is trusted."""
        peer = environ.get("REMOTE_ADDR", "")
        environ[PEER_KEY] = peer
        if self.networks and self.is_trusted(peer):
            forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
            if forwarded_for:
                environ["REMOTE_ADDR"] = self.client(peer, forwarded_for)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in SCHEMES:
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)
