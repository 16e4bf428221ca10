"""docker-compose.yml is correct for users even though no Docker engine runs here."""

from __future__ import annotations

import ipaddress
import re

import yaml

from tests.support import ROOT


def compose() -> dict:
    """Load docker-compose.yml."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_commands_match_the_contract():
    services = compose()["services"]
    assert set(services) == {"proxy", "rabbitmq", "rabbitmq-init", "postgres", "migrate", "web", "worker", "classifier",
                             "scheduler"}
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["migrate"]["restart"] == "no"
    assert "webapp:create_app()" in services["web"]["command"] and "--preload" not in services["web"]["command"]
    assert services["worker"]["command"][:2] == ["dramatiq", "actors"]
    assert services["scheduler"]["command"] == ["python", "scheduler.py"]


def test_the_workers_consume_every_queue_and_only_the_classifier_loads_the_model():
    from core.messaging.queues import QUEUES

    services = compose()["services"]
    consumed = {}
    for name in ("worker", "classifier"):
        command = services[name]["command"]
        assert command[:2] == ["dramatiq", "actors"]
        consumed[name] = set(command[command.index("--queues") + 1:])
    assert consumed["classifier"] == {"classification"}
    assert consumed["worker"] | consumed["classifier"] == set(QUEUES)
    assert not consumed["worker"] & consumed["classifier"]


def test_rabbitmq_keeps_its_data_across_container_recreation():
    rabbit = compose()["services"]["rabbitmq"]
    assert rabbit["hostname"] == "rabbitmq"
    assert any(volume.endswith(":/var/lib/rabbitmq") for volume in rabbit["volumes"])


def test_every_dependency_has_a_healthcheck_and_apps_wait_for_migrations():
    services = compose()["services"]
    for name in ("rabbitmq", "postgres", "web", "worker", "classifier", "scheduler"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "classifier", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq-init"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["PARLEY_ENV"] == "production"


def test_worker_grace_period_exceeds_its_shutdown_timeout():
    for name in ("worker", "classifier"):
        worker = compose()["services"][name]
        timeout_ms = int(worker["command"][worker["command"].index("--worker-shutdown-timeout") + 1])
        assert int(worker["stop_grace_period"].rstrip("s")) * 1000 > timeout_ms


def test_only_the_proxy_publishes_ports():
    services = compose()["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert proxy["environment"]["MAX_REQUEST_BYTES"] == services["web"]["environment"]["MAX_REQUEST_BYTES"]


def test_web_trusts_forwarding_headers_from_the_proxy_only():
    stack = compose()
    web, proxy = stack["services"]["web"], stack["services"]["proxy"]
    command = " ".join(web["command"])
    assert '"*"' not in command and "*" not in web["command"]
    assert web["command"][web["command"].index("--forwarded-allow-ips") + 1] == ""
    address = proxy["networks"]["edge"]["ipv4_address"]
    assert web["environment"]["TRUSTED_PROXIES"] == address and "edge" in web["networks"]
    (pool,) = stack["networks"]["edge"]["ipam"]["config"]
    # The proxy's fixed address is in the subnet, outside the range Docker hands to other containers.
    assert ipaddress.ip_address(address) in ipaddress.ip_network(pool["subnet"])
    assert ipaddress.ip_address(address) not in ipaddress.ip_network(pool["ip_range"])


def test_no_default_credentials():
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(PASSWORD|_PASS|SECRET_KEY):-", text)
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "RABBITMQ_ADMIN_PASSWORD"):
        assert "${" + name + ":?" in text, name
    assert "guest" not in text


def test_the_apps_rabbitmq_user_is_not_the_administrator():
    services = compose()["services"]
    # amqp://USER:${RABBITMQ_PASSWORD:?…}@rabbitmq:5672/VHOST (the "?" of the variable defeats urlsplit)
    user, vhost = re.fullmatch(r"amqp://(\w+):\$\{[^}]+\}@rabbitmq:5672/(\w+)",
                               services["web"]["environment"]["BROKER_URL"]).groups()
    rabbit, init = services["rabbitmq"]["environment"], services["rabbitmq-init"]["environment"]
    assert rabbit["RABBITMQ_DEFAULT_USER"] != user  # the default user is the administrator
    assert init["RABBITMQ_USER"] == user and init["RABBITMQ_VHOST"] == vhost
    assert init["RABBITMQ_ADMIN_USER"] == rabbit["RABBITMQ_DEFAULT_USER"]
    assert init["RABBITMQ_PASSWORD"] == "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}"
    assert services["rabbitmq-init"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_health_and_metrics_ports_stay_on_loopback_in_containers():
    services = compose()["services"]
    assert services["worker"]["environment"]["dramatiq_prom_host"] == "${WORKER_METRICS_HOST:-127.0.0.1}"
    assert services["scheduler"]["environment"]["SCHEDULER_HEALTH_HOST"] == "127.0.0.1"
