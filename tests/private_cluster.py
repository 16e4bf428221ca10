"""A private three-node RabbitMQ cluster on spare loopback ports, for tests that kill a node under load.

Each node is a ``PrivateRabbit`` (tests/private_services.py): its own ports, data directory and node name
(``parley-PORT@localhost``). They share the Erlang cookie because the scripts run with the same HOME (the
rabbitmq user's as root), and the second and third node join the first as the clustering guide does it:
``stop_app; reset; join_cluster; start_app``. ``close()`` removes every node, also when starting failed.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Self

from tests.private_services import PrivateRabbit

log = logging.getLogger(__name__)


class PrivateCluster:
    """Three (or *size*) private RabbitMQ nodes clustered together."""

    def __init__(self, size: int = 3) -> None:
        """Prepare (but do not start) the nodes."""
        self.nodes = [PrivateRabbit(start_timeout=90) for _ in range(size)]

    @property
    def url(self) -> str:
        """BROKER_URL naming every node (default vhost, guest), comma-separated."""
        return ",".join(node.url for node in self.nodes)

    def start(self) -> float:
        """Start the nodes side by side, cluster them with the first; return the seconds it took."""
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.rabbitmqctl("stop_app")
            node.rabbitmqctl("reset")
            node.rabbitmqctl("join_cluster", first.node)
            node.rabbitmqctl("start_app")
        running = self.running_nodes(first)
        assert running == {node.node for node in self.nodes}, f"cluster did not form: {running}"
        seconds = time.monotonic() - began
        log.info("private RabbitMQ cluster of %d nodes up in %.1f s", len(self.nodes), seconds)
        return seconds

    def running_nodes(self, via: PrivateRabbit) -> set[str]:
        """The node names *via* sees running in its cluster."""
        status = json.loads(via.rabbitmqctl("cluster_status", "--formatter", "json", timeout=30))
        return set(status["running_nodes"])

    def alive(self) -> list[PrivateRabbit]:
        """The nodes whose VM runs."""
        return [node for node in self.nodes if node.is_running()]

    def queues(self, vhost: str = "/") -> dict[str, dict[str, object]]:
        """Queue name -> its type, arguments, leader and members, as a running node lists them."""
        out = self.alive()[0].rabbitmqctl("list_queues", "-p", vhost, "--formatter", "json", "name", "type",
                                          "arguments", "leader", "members", timeout=30)
        return {queue["name"]: queue for queue in json.loads(out)}

    def leader(self, queue: str, vhost: str = "/") -> PrivateRabbit:
        """The node that leads quorum queue *queue*."""
        name = self.queues(vhost)[queue]["leader"]
        return next(node for node in self.nodes if node.node == name)

    def close(self) -> None:
        """Stop and remove every node (idempotent; a node that never started is only removed)."""
        for node in self.nodes:
            try:
                node.kill()  # the data is thrown away: no clean shutdown needed, and it is instant
            finally:
                node.close()

    def __enter__(self) -> Self:
        """Start the cluster; remove the nodes if that fails."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the nodes."""
        self.close()
