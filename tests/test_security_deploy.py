"""Issue 13, deployment: client addresses only from trusted proxies, the nginx proxy, /readyz reason codes,
/metrics protection, loopback-only health and metrics ports, and the RabbitMQ provisioning of compose."""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from core.config import Settings
from tests import support
from tests.clients import post
from webapp.proxy import TrustedProxies

NGINX_DIR = support.ROOT / "deploy" / "nginx"
COMMENT = {"thread": "proxy", "author": "Ada", "body": "hello"}
PROXY, ALICE, BOB = "10.9.0.1", "203.0.113.5", "203.0.113.6"


def app_with(stack, **overrides: object):  # type: ignore[no-untyped-def]
    """A test client of the app with these settings."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(**overrides), "TESTING": True}).test_client()


def via(peer: str, forwarded_for: str | None = None) -> dict:
    """Keyword arguments for a request from *peer*, optionally with an X-Forwarded-For header."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return {"environ_base": {"REMOTE_ADDR": peer}, "headers": headers}


# --- the client's address -------------------------------------------------------------------------------------

def test_clients_behind_a_trusted_proxy_have_their_own_rate_limit(stack, clean_db):
    client = app_with(stack, rate_limit_per_minute=2, trusted_proxies=(f"{PROXY}/32",))
    assert [post(client, COMMENT, **via(PROXY, ALICE)).status_code for _ in range(3)] == [202, 202, 429]
    assert post(client, COMMENT, **via(PROXY, BOB)).status_code == 202


def test_forwarded_for_from_an_untrusted_peer_changes_nothing(stack, clean_db):
    client = app_with(stack, rate_limit_per_minute=2, trusted_proxies=(f"{PROXY}/32",))
    # Given a peer that is not the proxy, naming a new address on every request,
    statuses = [post(client, COMMENT, **via("198.51.100.7", f"192.0.2.{n}")).status_code for n in range(3)]
    # Then it still shares one budget: its own.
    assert statuses == [202, 202, 429]


def test_the_client_is_the_right_most_untrusted_hop():
    middleware = TrustedProxies(lambda environ, start: [], ["10.9.0.0/24", "::1"])
    assert middleware.client(PROXY, f"6.6.6.6, {ALICE}, 10.9.0.7") == ALICE
    assert middleware.client(PROXY, "unknown, 10.9.0.7") == "10.9.0.7"
    assert middleware.client(PROXY, f"::ffff:{ALICE}") == ALICE
    assert not middleware.is_trusted("not-an-address") and middleware.is_trusted("::1")


def test_scheme_is_taken_from_trusted_proxies_only():
    seen: list[str] = []
    middleware = TrustedProxies(lambda environ, start: seen.append(environ["wsgi.url_scheme"]) or [], [PROXY])
    for peer in (PROXY, "198.51.100.7"):
        middleware({"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_PROTO": "https"}, None)
    assert seen == ["https", "http"]


def test_proxy_hops_alone_still_means_a_proxy_on_this_host():
    assert Settings.from_env({"PROXY_HOPS": "1"}).trusted_proxies == ("127.0.0.1/32", "::1/128")
    assert Settings.from_env({"TRUSTED_PROXIES": "10.0.0.0/8, 172.30.255.10"}).trusted_proxies == (
        "10.0.0.0/8", "172.30.255.10/32")
    assert Settings.from_env({}).trusted_proxies == ()


# --- /readyz and /metrics ---------------------------------------------------------------------------------------

def test_readyz_answers_reason_codes_and_logs_the_detail(stack, caplog):
    from webapp import create_app

    wrong_password = stack.broker_url.replace("guest:guest@", "guest:wrong@")
    settings = replace(stack.settings(), database_url=f"postgresql+psycopg2://nobody:pw@127.0.0.1:{support.free_port()}/x",
                       broker_url=wrong_password)
    from core.storage import db

    try:
        with caplog.at_level(logging.WARNING, logger="webapp.health"):
            response = create_app({"PARLEY": settings, "TESTING": True}).test_client().get("/readyz")
    finally:
        db.configure(stack.database_url)
    assert response.status_code == 503 and response.get_json() == {"database": "unavailable", "broker": "refused"}
    text = response.get_data(as_text=True)
    assert "ACCESS_REFUSED" in caplog.text and "connection" in caplog.text.lower()
    assert not any(word in text for word in ("ACCESS_REFUSED", "Error", "connection", "127.0.0.1", "psycopg"))
    closed = f"amqp://guest:guest@127.0.0.1:{support.free_port()}/"
    client = create_app({"PARLEY": replace(stack.settings(), broker_url=closed), "TESTING": True}).test_client()
    assert client.get("/readyz").get_json() == {"database": "ok", "broker": "unreachable"}


def test_metrics_token_is_required_when_set(stack, clean_db):
    client = app_with(stack, metrics_token="s3cret-token")
    assert client.get("/metrics").status_code == 401
    refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_production_metrics_without_token_answer_loopback_only(stack, clean_db):
    client = app_with(stack, env="production", secret_key="x" * 32, trusted_proxies=(f"{PROXY}/32",))
    assert client.get("/metrics", **via("127.0.0.1")).status_code == 200
    assert client.get("/metrics", **via("198.51.100.7")).status_code == 401
    # Through the proxy, the client's address counts, not the proxy's; a forged header gains nothing.
    assert client.get("/metrics", **via(PROXY, ALICE)).status_code == 401
    assert client.get("/metrics", **via("198.51.100.7", "127.0.0.1")).status_code == 401


# --- real processes: gunicorn as compose runs it, behind the nginx of deploy/nginx ----------------------------

def render_nginx(tmp: Path, **env: str) -> Path:
    """Render deploy/nginx with 40-parley.sh and wrap it in a main configuration under *tmp*; return its path."""
    assert shutil.which("nginx"), "nginx is missing: `make services` (scripts/ensure_services.sh) installs it"
    server = tmp / "parley.conf"
    subprocess.run(["sh", str(NGINX_DIR / "40-parley.sh")], check=True, capture_output=True,
                   env={**os.environ, "PARLEY_NGINX_DIR": str(NGINX_DIR), "PARLEY_NGINX_OUTPUT": str(server), **env})
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in kinds)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp paths under pytest's tmp
    main = tmp / "nginx.conf"
    main.write_text(f"{user}pid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\nevents {{}}\n"
                    f"http {{\n    access_log off;\n{temp}\n    include {server};\n}}\n")
    return main


def nginx_test(config: Path) -> subprocess.CompletedProcess:
    """Run ``nginx -t`` on *config*."""
    return subprocess.run(["nginx", "-t", "-c", str(config), "-p", str(config.parent)], capture_output=True, text=True)


def test_nginx_configuration_is_valid_over_http(tmp_path):
    checked = nginx_test(render_nginx(tmp_path, PARLEY_UPSTREAM="127.0.0.1:5000", MAX_REQUEST_BYTES="65536"))
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    rendered = (tmp_path / "parley.conf").read_text()
    assert "client_max_body_size 65536;" in rendered and "ssl" not in rendered


def test_nginx_configuration_is_valid_with_tls(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=comments.example.org", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    config = render_nginx(tmp_path, PARLEY_UPSTREAM="127.0.0.1:5000", DOMAIN="comments.example.org",
                          TLS_CERTIFICATE=str(cert), TLS_CERTIFICATE_KEY=str(key))
    checked = nginx_test(config)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    rendered = (tmp_path / "parley.conf").read_text()
    assert "listen 443 ssl" in rendered and "return 301 https://comments.example.org$request_uri;" in rendered
    half = subprocess.run(["sh", str(NGINX_DIR / "40-parley.sh")], capture_output=True, text=True,
                          env={**os.environ, "PARLEY_NGINX_DIR": str(NGINX_DIR), "DOMAIN": "comments.example.org",
                               "PARLEY_NGINX_OUTPUT": str(tmp_path / "half.conf")})
    assert half.returncode == 1 and "together" in half.stderr


def compose_web_command(port: int) -> list[str]:
    """The web's command from docker-compose.yml, bound to a loopback port."""
    command = yaml.safe_load((support.ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    command = [f"127.0.0.1:{port}" if part == "0.0.0.0:5000" else part for part in command]
    return [str(support.BIN / command[0]), *command[1:]]


def request_from(source: str, port: int, method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send one request from the loopback address *source*; return status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post_from(source: str, port: int, forwarded_for: str | None = None) -> int:
    """POST a comment from *source*; return the status."""
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": forwarded_for} if forwarded_for else {})}
    return request_from(source, port, "POST", "/api/comments", json.dumps(COMMENT).encode(), headers)[0]


@pytest.fixture
def proxied_web(stack, clean_db, tmp_path) -> Iterator[tuple[int, int]]:
    """Gunicorn with compose's command (TRUSTED_PROXIES=127.0.0.1) behind nginx; yield (web port, proxy port)."""
    if stack.backend != "postgresql":
        pytest.skip("process test on PostgreSQL")
    web_port, proxy_port = support.free_port(), support.free_port()
    web = support.Proc("gunicorn-proxied", compose_web_command(web_port),
                       {**stack.env(TRUSTED_PROXIES="127.0.0.1"), "RATE_LIMIT_PER_MINUTE": "2"})
    config = render_nginx(tmp_path, PARLEY_UPSTREAM=f"127.0.0.1:{web_port}", NGINX_HTTP_PORT=f"127.0.0.1:{proxy_port}",
                          MAX_REQUEST_BYTES="2048")
    nginx = support.Proc("nginx", ["nginx", "-g", "daemon off;", "-c", str(config), "-p", str(tmp_path)], {})

    def up() -> bool:
        try:
            return all(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                       for port in (web_port, proxy_port))
        except requests.RequestException:  # not listening yet
            return False

    try:
        support.poll(up, 30, interval=0.2, what="gunicorn and nginx to answer")
        yield web_port, proxy_port
    finally:
        nginx.stop()
        web.stop()


def test_compose_web_behind_nginx(proxied_web):
    web_port, proxy_port = proxied_web
    # Two clients behind the proxy have their own budgets; a forged X-Forwarded-For is replaced by nginx.
    assert [post_from("127.0.0.2", proxy_port, forwarded_for=f"192.0.2.{n}") for n in range(3)] == [202, 202, 429]
    assert post_from("127.0.0.3", proxy_port) == 202
    # A client reaching gunicorn directly is not a trusted proxy: its header changes nothing.
    assert [post_from("127.0.0.4", web_port, forwarded_for=f"192.0.2.{n}") for n in range(3)] == [202, 202, 429]
    # gunicorn honours no SCRIPT_NAME header, even from loopback (its default trust) or through nginx.
    for port in (web_port, proxy_port):
        status, _ = request_from("127.0.0.1", port, "GET", "/x/metrics", headers={"SCRIPT_NAME": "/x"})
        assert status == 404
    # nginx refuses bodies over MAX_REQUEST_BYTES with the API's error shape.
    status, body = request_from("127.0.0.5", proxy_port, "POST", "/api/comments", b"x" * 4096,
                                {"Content-Type": "application/json"})
    assert status == 413 and json.loads(body)["error"]["code"] == "request_entity_too_large"


# --- health and metrics ports bind loopback -------------------------------------------------------------------

def answers(host: str, port: int) -> bool:
    """Tell whether something accepts TCP connections on *host*:*port*."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def test_scheduler_health_listens_on_loopback_only(stack, clean_db):
    if stack.backend != "postgresql":
        pytest.skip("process test on PostgreSQL")
    port = support.free_port()
    env = stack.env(SCHEDULER_HEALTH_PORT=str(port))
    proc = support.Proc("scheduler-health", [sys.executable, "scheduler.py"], env)
    try:
        proc.wait_for_log("Liveness on http://127.0.0.1:")
        support.poll(lambda: answers("127.0.0.1", port), 10, what="the scheduler's health port")
        assert not answers("127.0.0.2", port)  # another address of this host: 0.0.0.0 would answer here
    finally:
        proc.stop()


def test_worker_metrics_listen_on_loopback_only(stack, tmp_path):
    if stack.backend != "postgresql":
        pytest.skip("process test on PostgreSQL")
    port = support.free_port()
    worker = support.start_worker(stack.env(WORKER_METRICS="1", dramatiq_prom_port=str(port),
                                            dramatiq_prom_db=str(tmp_path)), threads=1)
    try:
        support.poll(lambda: answers("127.0.0.1", port), 20, what="the worker's metrics port")
        assert not answers("127.0.0.2", port)
    finally:
        worker.stop()


# --- compose's RabbitMQ provisioning --------------------------------------------------------------------------

class FakeManagementApi(BaseHTTPRequestHandler):
    """Records the management API calls it receives and answers 201 (200 for GET, 204 for DELETE)."""

    calls: list[tuple[str, str, str, dict | None]] = []

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path, self.headers["Authorization"], body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(200)

    def do_PUT(self) -> None:  # noqa: N802
        self._answer(201)

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer(204)

    def log_message(self, *_args: object) -> None:
        pass


def test_rabbitmq_provisioning_makes_a_user_without_administrator_rights():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeManagementApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "RABBITMQ_API": f"http://127.0.0.1:{server.server_port}", "RABBITMQ_ADMIN_PASSWORD": "adm",
           "RABBITMQ_PASSWORD": "app-pw", "RABBITMQ_API_WAIT_SECONDS": "10"}
    try:
        done = subprocess.run([sys.executable, str(support.ROOT / "deploy" / "rabbitmq" / "provision.py")], env=env,
                              capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    calls = {(method, path): body for method, path, _auth, body in FakeManagementApi.calls}
    assert calls[("PUT", "/api/users/parley")] == {"password": "app-pw", "tags": ""}
    assert calls[("PUT", "/api/permissions/parley/parley")] == {"configure": ".*", "write": ".*", "read": ".*"}
    assert ("DELETE", "/api/permissions/%2F/parley") in calls
    assert {auth for *_rest, auth, _body in FakeManagementApi.calls} == {"Basic YWRtaW46YWRt"}  # admin:adm
    missing = subprocess.run([sys.executable, str(support.ROOT / "deploy" / "rabbitmq" / "provision.py")],
                             env={k: v for k, v in env.items() if k != "RABBITMQ_PASSWORD"}, capture_output=True,
                             text=True, timeout=30)
    assert missing.returncode == 1 and "RABBITMQ_PASSWORD" in missing.stderr
