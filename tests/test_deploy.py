"""docker-compose.yml is correct for users even though no Docker engine runs here."""

from __future__ import annotations

import yaml

from tests.support import ROOT


def compose() -> dict:
    """Load docker-compose.yml."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_commands_match_the_contract():
    services = compose()["services"]
    assert set(services) == {"rabbitmq", "postgres", "migrate", "web", "worker", "scheduler"}
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["migrate"]["restart"] == "no"
    assert "webapp:create_app()" in services["web"]["command"] and "--preload" not in services["web"]["command"]
    assert services["worker"]["command"][:2] == ["dramatiq", "actors"]
    assert services["scheduler"]["command"] == ["python", "scheduler.py"]


def test_rabbitmq_keeps_its_data_across_container_recreation():
    rabbit = compose()["services"]["rabbitmq"]
    assert rabbit["hostname"] == "rabbitmq"
    assert any(volume.endswith(":/var/lib/rabbitmq") for volume in rabbit["volumes"])


def test_every_dependency_has_a_healthcheck_and_apps_wait_for_migrations():
    services = compose()["services"]
    for name in ("rabbitmq", "postgres", "web", "worker", "scheduler"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert services[name]["environment"]["PARLEY_ENV"] == "production"


def test_worker_grace_period_exceeds_its_shutdown_timeout():
    worker = compose()["services"]["worker"]
    timeout_ms = int(worker["command"][worker["command"].index("--worker-shutdown-timeout") + 1])
    assert int(worker["stop_grace_period"].rstrip("s")) * 1000 > timeout_ms


def test_ports_are_bound_to_loopback_only():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
