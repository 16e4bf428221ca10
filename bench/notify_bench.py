"""Issue #15: the outbox drain rate (mails/s to a local SMTP server, webhooks/s to a local receiver) against a
bare smtplib / requests loop in the same run; target: Parley at least 0.5x the bare loop.

Usage (from the repository root):  .venv/bin/python bench/notify_bench.py [--quick] [--rounds N]

On a private PostgreSQL database and RabbitMQ vhost it starts an aiosmtpd sink and a threaded HTTP receiver,
each in its own process (they count what they accept, by Message-ID / delivery id), then per round, in turn:
the bare mail loop (one new SMTP connection per mail, as Parley sends; a reused connection for information),
Parley's mail drain, the bare webhook loop (one ``requests.Session``), Parley's webhook drain. A drain seeds
its outbox rows with the product's functions (reply notifications to confirmed addresses; ``comment.published``
deliveries to one endpoint), sends them with the web's Dispatcher, starts ``dramatiq actors --processes 2
--threads 8`` and times the rows' ``sent_at`` (steady rate between 10 % and 90 %, as the other drains).
run_all.py calls :func:`measure` with one round. The sinks and the bare loops are in bench/notify_sinks.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import drain  # noqa: E402
from bench.cpu import CpuMeter, Window  # noqa: E402
from bench.notify_sinks import BASE_URL, bare_mails, bare_webhooks, sink_counts, start_sinks, texts  # noqa: E402
from bench.services import Stack  # noqa: E402

FULL = {"mails": 500, "webhooks": 1000, "rounds": 3}
QUICK = {"mails": 150, "webhooks": 300, "rounds": 2}


def _comments(session: Any, count: int, tag: str, **fields: Any) -> list[Any]:
    """Add *count* published comments (300-character texts) with *fields* (callables get the index)."""
    from core.storage.models import Comment, Status, utcnow

    made, now = texts(), utcnow()
    fields = {"author": lambda i: f"reader {i % 97}", **fields}
    rows = [Comment(thread=f"{tag}/t{i % 50}", body=made[i % len(made)], lang="en", status=Status.PUBLISHED,
                    created_at=now, updated_at=now, checked_at=now, check_attempts=1, dispatch_attempts=0,
                    **{k: (v(i) if callable(v) else v) for k, v in fields.items()})
            for i in range(count)]
    session.add_all(rows)
    session.flush()
    return rows


def seed(settings: Any, kind: str, count: int, tag: str, endpoint_id: int | None = None) -> list[int]:
    """Write *count* outbox rows of *kind* as the product does, in one transaction; return their ids."""
    from core.notifications import addresses, outbox, replies
    from core.storage import db

    with db.session_scope() as session:
        if kind == "mail":  # reply notifications: 50 confirmed, opted-in parents; one reply by someone else each
            emails = [f"{tag}.reader{i}@example.org" for i in range(50)]
            for email in emails:
                addresses.ensure_confirmed(session, email, settings)
            parents = _comments(session, 50, tag, email=lambda i: emails[i], notify_replies=True)
            for reply in _comments(session, count, tag, author="Bob", parent_id=lambda i: parents[i % 50].id):
                replies.on_visible(session, reply, settings)
        else:
            for comment in _comments(session, count, tag):
                outbox.record_event(session, outbox.PUBLISHED, comment.id)
        ids = outbox.written(session)
    if len(ids) != count:
        raise RuntimeError(f"seeding wrote {len(ids)} {kind} rows, not {count}")
    return ids


def parley_drain(stack: Stack, env: dict[str, str], settings: Any, ids: list[int], meter: CpuMeter | None,
                 sink_url: str) -> dict[str, Any]:
    """Send *ids* with the web's Dispatcher, start the worker, time the rows until all are sent; stop the worker."""
    from sqlalchemy import func, select

    from bench.parley_runs import start_worker
    from core.messaging.broker import NOTIFICATIONS_QUEUE
    from core.messaging.dispatch import get_dispatcher
    from core.notifications import outbox
    from core.storage import db
    from core.storage.models_notifications import Outbox, OutboxStatus

    sent = outbox.send_all(ids, get_dispatcher(settings).send_notification)
    drain.wait_depth(stack, NOTIFICATIONS_QUEUE, sent)
    before = sink_counts(sink_url)
    in_range = Outbox.id.in_(ids)
    window = Window(meter, len(ids))
    started = time.time()
    worker = start_worker(stack, env)
    ready = time.time()
    try:
        deadline, done = time.monotonic() + max(120.0, len(ids) / 10), 0
        while done < len(ids):
            window.see(done)
            if time.monotonic() > deadline or not worker.alive():
                raise RuntimeError(f"notification drain: {done}/{len(ids)}; worker log:\n{worker.log()[-2000:]}")
            time.sleep(0.1)
            with db.session_scope() as session:
                done = session.scalar(select(func.count()).where(in_range, Outbox.status != OutboxStatus.PENDING))
        with db.session_scope() as session:
            times = [t.timestamp() for t in session.scalars(select(Outbox.sent_at).where(in_range)) if t]
            outcomes = dict(session.execute(select(Outbox.status, func.count()).where(in_range)
                                            .group_by(Outbox.status)).all())
    finally:
        stack.stop(worker)
    after = sink_counts(sink_url)
    if outcomes.get(OutboxStatus.SENT) != len(ids) or after["unique"] - before["unique"] != len(ids):
        raise RuntimeError(f"notification drain: rows {outcomes}, the sink got {after['unique'] - before['unique']} "
                           f"distinct of {len(ids)}")
    result = drain.rate_from_times(times, started)
    result.update(outcomes=outcomes, dispatched=sent, worker_startup_s=round(ready - started, 2), cpu=window.result(),
                  received=after["count"] - before["count"], received_unique=after["unique"] - before["unique"])
    return result


def _rounds(count: int, steps: list[tuple[str, Any]], runs: dict[str, list[dict[str, Any]]], log: Any) -> None:
    """Run the (name, step(round)) *steps* *count* times; every other round Parley goes first (drift hits both)."""
    for n in range(count):
        order = steps if n % 2 == 0 else [steps[2], steps[0], steps[1], steps[4], steps[3]]
        for name, step in order:
            result = step(n)
            runs[name].append(result)
            log(f"  round {n + 1} {name:<17}: {result['rate']:8.1f} /s"
                + (f"  {result['outcomes']}, received {result['received']} ({result['received_unique']} unique)"
                   if "outcomes" in result else ""))


def measure(stack: Stack, env: dict[str, str], cfg: dict[str, Any], meter: CpuMeter | None = None,
            log: Any = print) -> dict[str, Any]:
    """Run *cfg*'s rounds of bare loops and Parley drains, interleaved; return every figure and the ratios."""
    from core.config import Settings
    from core.messaging.dispatch import get_dispatcher
    from core.notifications import endpoints
    from core.storage import db

    sinks = start_sinks(stack)
    env = {**env, "SMTP_URL": f"smtp://127.0.0.1:{sinks['smtp_port']}", "PUBLIC_BASE_URL": BASE_URL,
           "WEBHOOK_ALLOW_PRIVATE": "1", "SMTP_TIMEOUT_SECONDS": "10"}
    settings = Settings.from_env(env)
    db.configure(stack.db_url)
    with db.session_scope() as session:
        endpoint_id = endpoints.add(session, sinks["hook_url"], "comment.published", settings)[0].id
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("bare_mail", "bare_mail_reused", "parley_mail",
                                                             "bare_webhook", "parley_webhook")}
    mails, hooks = cfg["mails"], cfg["webhooks"]
    try:
        _rounds(cfg["rounds"], [
            ("bare_mail", lambda n: bare_mails(sinks["smtp_port"], mails)),
            ("bare_mail_reused", lambda n: bare_mails(sinks["smtp_port"], mails, reuse=True)),
            ("parley_mail", lambda n: parley_drain(stack, env, settings, seed(settings, "mail", mails, f"m{n}"),
                                                   meter, sinks["smtp_counts"])),
            ("bare_webhook", lambda n: bare_webhooks(sinks["hook_url"], hooks)),
            ("parley_webhook", lambda n: parley_drain(stack, env, settings,
                                                      seed(settings, "webhook", hooks, f"w{n}", endpoint_id),
                                                      meter, sinks["hook_counts"])),
        ], runs, log)
    finally:
        dispatcher = get_dispatcher(settings)
        dispatcher.close()
        dispatcher.broker.close()
    out: dict[str, Any] = {"config": cfg, "runs": runs}
    for name, parts in runs.items():
        out[name] = round(sum(p["rate"] for p in parts) / len(parts), 1)
    out["mail_vs_bare"] = round(out["parley_mail"] / out["bare_mail"], 3)
    out["webhook_vs_bare"] = round(out["parley_webhook"] / out["bare_webhook"], 3)
    out["round_ratios"] = {kind: [round(p["rate"] / b["rate"], 3)
                                  for p, b in zip(runs[f"parley_{kind}"], runs[f"bare_{kind}"], strict=True)]
                           for kind in ("mail", "webhook")}
    return out


def main() -> int:
    """Run the notifications benchmark on its own private stack; print the figures; exit 1 below a target."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"smaller sizes: {QUICK}")
    parser.add_argument("--rounds", type=int, help="rounds of the four measurements (default 3, --quick 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    cfg["rounds"] = args.rounds or cfg["rounds"]
    from bench.parley_runs import parley_env

    stack = Stack()
    try:
        stack.open()
        env = parley_env(stack, "http://127.0.0.1:9/")  # no translations run here
        result = measure(stack, env, cfg, CpuMeter(stack))
    finally:
        stack.close()
    print(f"\n{'notifications drain (' + str(cfg) + ')':<60}")
    for label, key in (("bare smtplib loop, new connection per mail", "bare_mail"),
                       ("bare smtplib loop, one connection (information)", "bare_mail_reused"),
                       ("Parley mail drain (dramatiq 2 x 8)", "parley_mail"),
                       ("bare requests.Session loop", "bare_webhook"),
                       ("Parley webhook drain (dramatiq 2 x 8)", "parley_webhook")):
        print(f"  {label:<50} {result[key]:8.1f} /s  rounds {[p['rate'] for p in result['runs'][key]]}")
    for kind in ("mail", "webhook"):
        ratio = result[f"{kind}_vs_bare"]
        print(f"  {kind} drain / bare loop: {ratio:.2f} (rounds {result['round_ratios'][kind]}), target >= 0.5: "
              f"{'PASS' if ratio >= 0.5 else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if min(result["mail_vs_bare"], result["webhook_vs_bare"]) >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
