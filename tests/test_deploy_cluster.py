"""deploy/rabbitmq-cluster/ is a correct three-node example even though no Docker engine runs here."""

from __future__ import annotations

import re

import yaml

from core.config import Settings, broker_nodes
from tests.support import ROOT

HERE = ROOT / "deploy" / "rabbitmq-cluster"
NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")


def services() -> dict:
    """The services of deploy/rabbitmq-cluster/docker-compose.yml."""
    return yaml.safe_load((HERE / "docker-compose.yml").read_text())["services"]


def test_three_rabbitmq_nodes_share_a_cookie_and_keep_their_names() -> None:
    found = services()
    cookies = set()
    for node in NODES:
        rabbit = found[node]
        assert rabbit["image"] == "rabbitmq:3.13-management"
        assert rabbit["hostname"] == node  # the node name rabbit@<hostname> must not change
        assert f"{node}-data:/var/lib/rabbitmq" in rabbit["volumes"]
        assert "./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" in rabbit["volumes"]
        assert "healthcheck" in rabbit
        cookies.add(rabbit["environment"]["RABBITMQ_ERLANG_COOKIE"])
    (cookie,) = cookies
    assert cookie.startswith("${RABBITMQ_ERLANG_COOKIE:?")  # required, no default


def test_the_nodes_form_the_cluster_from_the_classic_config() -> None:
    conf = dict(line.split(" = ", 1) for line in (HERE / "rabbitmq.conf").read_text().splitlines()
                if line and not line.startswith("#"))
    assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {value for key, value in conf.items() if key.startswith("cluster_formation.classic_config.nodes.")}
    assert listed == {f"rabbit@{node}" for node in NODES}


def test_parley_names_every_node_and_declares_quorum_queues() -> None:
    found = services()
    for name in ("migrate", "web", "worker", "scheduler"):
        env = found[name]["environment"]
        assert env["BROKER_QUEUE_TYPE"] == "quorum", name
        # Compose fills ${RABBITMQ_PASSWORD:?…} in; the result must be what core/config takes.
        url = re.sub(r"\$\{RABBITMQ_PASSWORD:\?[^}]*\}", "secret", env["BROKER_URL"])
        settings = Settings.from_env({"BROKER_URL": url, "BROKER_QUEUE_TYPE": env["BROKER_QUEUE_TYPE"]})
        hosts = [node.split("@", 1)[1].split(":")[0] for node in broker_nodes(settings.broker_url)]
        assert hosts == list(NODES), name
        assert all(node.endswith(":5672/parley") for node in broker_nodes(url))
    for name in ("web", "worker", "scheduler"):
        assert found[name]["depends_on"]["rabbitmq-init"]["condition"] == "service_completed_successfully"
    init = found["rabbitmq-init"]
    assert set(init["depends_on"]) == set(NODES) and init["environment"]["RABBITMQ_VHOST"] == "parley"
