"""Give Parley its own RabbitMQ user: full rights on its vhost only, no administrator tag (compose runs this once).

RabbitMQ's default user (``RABBITMQ_DEFAULT_USER``) is the broker's administrator; the web, the workers and the
scheduler log in as ``RABBITMQ_USER`` instead, which this script creates or updates through the management
API: the password is (re)set from ``RABBITMQ_PASSWORD`` on every run, so changing it and re-running rotates it.
A deploy tool, not part of the application: it reads its own environment and imports nothing from Parley.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

logger = logging.getLogger("provision")


class Api:
    """The RabbitMQ management HTTP API, as its administrator."""

    def __init__(self, base: str, user: str, password: str, timeout: float = 5.0) -> None:
        self.base = base.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        """Send one request; return the HTTP status (4xx/5xx too)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": self.auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def wait(self, timeout: float) -> None:
        """Poll ``/api/overview`` until it answers 200; raise RuntimeError after *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.call("GET", "/api/overview")
            except OSError as exc:
                status = 0
                logger.info("Management API not answering yet (%s)", exc)
            if status == 200:
                return
            if status in (401, 403):
                raise RuntimeError("the management API refused RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the management API at {self.base} did not answer within {timeout:g} s")
            time.sleep(1)


def provision(api: Api, user: str, password: str, vhost: str) -> None:
    """Create *vhost* and *user* (no tags) with every right on *vhost* and none on the default vhost."""
    quoted_user, quoted_vhost = urllib.parse.quote(user, safe=""), urllib.parse.quote(vhost, safe="")
    steps = [
        ("PUT", f"/api/vhosts/{quoted_vhost}", {}),
        ("PUT", f"/api/users/{quoted_user}", {"password": password, "tags": ""}),
        ("PUT", f"/api/permissions/{quoted_vhost}/{quoted_user}", {"configure": ".*", "write": ".*", "read": ".*"}),
    ]
    for method, path, body in steps:
        status = api.call(method, path, body)
        if status not in (200, 201, 204):
            raise RuntimeError(f"{method} {path} answered {status}")
    if vhost != "/":
        # Deployments from before this script ran Parley on "/" as the administrator: take that away.
        api.call("DELETE", f"/api/permissions/%2F/{quoted_user}")
    logger.info("RabbitMQ user %r has rights on vhost %r only and no tags.", user, vhost)


def main() -> int:
    """Provision from the environment; exit 1 with a message when something is missing or refused."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    env = os.environ
    missing = [name for name in ("RABBITMQ_ADMIN_PASSWORD", "RABBITMQ_PASSWORD") if not env.get(name)]
    if missing:
        logger.error("Set %s.", " and ".join(missing))
        return 1
    api = Api(env.get("RABBITMQ_API", "http://rabbitmq:15672"), env.get("RABBITMQ_ADMIN_USER", "admin"),
              env["RABBITMQ_ADMIN_PASSWORD"])
    try:
        api.wait(float(env.get("RABBITMQ_API_WAIT_SECONDS", "120")))
        provision(api, env.get("RABBITMQ_USER", "parley"), env["RABBITMQ_PASSWORD"],
                  env.get("RABBITMQ_VHOST", "parley"))
    except RuntimeError as exc:
        logger.error("Provisioning failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
