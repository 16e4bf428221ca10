"""Losing a RabbitMQ node under load: a private three-node cluster with quorum queues, the node leading
``moderation`` SIGKILLed while comments are posted, and the database checked afterwards.

Real gunicorn, ``dramatiq actors`` and ``scheduler.py`` processes run with BROKER_URL naming the three nodes and
BROKER_QUEUE_TYPE=quorum; the invariants are fault_support's (every 202 final, no duplicate effects).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.messaging.queues import all_queue_names
from core.messaging.rabbitmq import DELIVERY_LIMIT
from core.storage.models import Comment, Status
from tests import fault_support, support
from tests.fault_support import POST_DEADLINE, FaultStack, FaultTranslator, History
from tests.private_cluster import PrivateCluster
from tests.test_faults_services import alive, posting

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)


@pytest.fixture
def cluster_stack(fault_translator: FaultTranslator) -> Iterator[tuple[PrivateCluster, FaultStack]]:
    """A started three-node cluster and a fresh PostgreSQL database on the shared server; all removed after."""
    name = support.unique("parley_cluster")
    database_url = support.create_pg_database(name)
    cluster = PrivateCluster()
    stack: FaultStack | None = None
    try:
        cluster.start()
        support.migrate(database_url)
        fault_translator.reset()
        stack = FaultStack(cluster.nodes[0], fault_translator, database_url)
        stack.broker_url = cluster.url
        stack.settings["BROKER_QUEUE_TYPE"] = "quorum"
        yield cluster, stack
    finally:
        if stack is not None:
            for proc in stack.procs:
                proc.stop(timeout=10)
            stack.engine.dispose()
        cluster.close()
        fault_translator.reset()
        support.drop_pg_database(name)


def first_check_after(stack: FaultStack, moment: datetime) -> float | None:
    """Seconds from *moment* to the first check of a comment posted after it (None: none yet)."""
    with Session(stack.engine) as session:
        first = session.scalar(select(func.min(Comment.checked_at)).where(Comment.created_at > moment,
                                                                          Comment.checked_at.is_not(None)))
    return None if first is None else (first - moment).total_seconds()


def test_killing_the_moderation_leader_loses_nothing(cluster_stack: tuple[PrivateCluster, FaultStack]) -> None:
    cluster, stack = cluster_stack
    procs = (stack.start_worker(), stack.start_web(), stack.start_scheduler())
    # Given every Parley queue replicated on the three nodes, with the delivery limit and at-least-once DLX
    queues = cluster.queues()
    assert {name: q["type"] for name, q in queues.items()} == {name: "quorum" for name in all_queue_names()}
    assert all(len(q["members"]) == 3 for q in queues.values()), queues
    moderation = {key: value for key, _type, value in queues["moderation"]["arguments"]}
    assert moderation["x-delivery-limit"] == DELIVERY_LIMIT
    assert moderation["x-dead-letter-strategy"] == "at-least-once"
    history = History()
    with posting(stack, history, "cluster") as posted:
        support.poll(lambda: posted() >= 20, 30, what="posts before the node loss")
        # When the node leading `moderation` is SIGKILLed while comments are posted and checked
        victim = cluster.leader("moderation")
        stack.rabbit = next(node for node in cluster.nodes if node is not victim)  # for passive checks and logs
        killed_at = datetime.now(UTC)
        victim.kill()
        before = posted()
        support.poll(lambda: posted() >= before + 40, 60, what="posts after the node loss")
        # Then a comment posted after the loss is checked within seconds (the time to recover)
        recover = support.poll(lambda: first_check_after(stack, killed_at), 60, interval=0.2,
                               what="a check of a comment posted after the node loss")
    new_leader = cluster.leader("moderation").node
    report = fault_support.assert_invariants(stack, history, settle=60)
    accepted = history.accepted
    with Session(stack.engine) as session:
        final = session.scalar(select(func.count()).select_from(Comment).where(
            Comment.id.in_(list(accepted)), Comment.status != Status.PENDING))
        redispatched = session.scalar(select(func.count()).select_from(Comment).where(Comment.redispatches > 0))
    figures = {"posted": len(history.outcomes), "accepted": len(accepted), "lost": len(accepted) - final,
               "recover_seconds": round(recover, 1), "redispatched": redispatched,
               "slowest_post_seconds": round(max(o.seconds for o in history.outcomes), 2),
               "killed": victim.node, "new_leader": new_leader,
               "outcomes": history.summary(), "settle_seconds": round(report.settle_seconds, 1)}
    log.info("node loss: %s", figures)
    (support.ARTIFACTS / "rabbit-cluster-node-loss.json").write_text(json.dumps(figures, indent=2))
    assert figures["lost"] == 0 and new_leader != victim.node, figures
    assert recover < 30 and figures["slowest_post_seconds"] < POST_DEADLINE, figures
    assert alive(*procs), fault_support.tail_logs(stack)
    if victim is cluster.nodes[0]:  # every process had connected to it: each failed over to another node
        for proc in procs:
            assert fault_support.count_log(proc, "did not answer .* trying the next node") >= 1, proc.name
    # Every survivor still holds a replica: nothing was dead-lettered by the loss.
    assert all(stack.depth(f"{q}.XQ") == 0 for q in ("moderation", "translation")), figures
