"""Batched profanity checks (core.moderation.checking) and the group commit that forms the batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import select, update

from core.moderation import checking, wordlists
from core.storage import db
from core.storage.batching import GroupCommit
from core.storage.models import AuditEvent, Comment, Status
from tests import seed, support


def test_group_commit_runs_alone_when_idle_and_batches_the_callers_that_wait():
    batches: list[list[int]] = []
    release = threading.Event()
    started = threading.Event()

    def run(items: Sequence[int]) -> dict[int, int]:
        batches.append(list(items))
        if len(batches) == 1:
            started.set()
            assert release.wait(10)
        return {item: item * 10 for item in items}

    group: GroupCommit[int, int] = GroupCommit(run, max_size=4)
    results: dict[int, int] = {}
    first = threading.Thread(target=lambda: results.update({1: group.submit(1)}))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=lambda i=i: results.update({i: group.submit(i)})) for i in range(2, 8)]
    for thread in others:
        thread.start()

    def queued() -> bool:
        with group._mutex:
            return len(group._queue) == 6

    support.poll(queued, 10, what="all six callers queued behind the running batch")
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == {i: i * 10 for i in range(1, 8)}
    assert batches[0] == [1]
    assert sorted(len(b) for b in batches[1:]) == [2, 4]  # max_size splits the six waiting callers
    assert sorted(i for b in batches[1:] for i in b) == list(range(2, 8))


def test_group_commit_weighs_items_so_lists_share_a_batch_up_to_max_size_and_a_heavy_one_runs_alone():
    """Items are messages: one id, or a check batch's list for the model. Waiting lists share one run while their
    ids fit in max_size; a list heavier than that runs on its own."""
    started, release = threading.Event(), threading.Event()
    batches: list[list[tuple[int, ...]]] = []

    def run(items: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], int]:
        batches.append(list(items))
        if len(batches) == 1:
            started.set()
            assert release.wait(10)
        return {item: sum(item) for item in items}

    group: GroupCommit[tuple[int, ...], int] = GroupCommit(run, max_size=10, weight=len)
    first = threading.Thread(target=group.submit, args=((0,),))
    first.start()
    assert started.wait(10)
    waiting = [(1, 2, 3), (4, 5, 6), (7, 8, 9, 10), tuple(range(100, 112)), (11,)]
    results: dict[tuple[int, ...], int] = {}
    threads = []
    for item in waiting:  # queued in this order
        threads.append(threading.Thread(target=lambda item=item: results.update({item: group.submit(item)})))
        threads[-1].start()
        support.poll(lambda n=len(threads): len(group._queue) == n, 10, what="the item queued")
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert results == {item: sum(item) for item in waiting}
    assert batches[1:] == [[(1, 2, 3), (4, 5, 6), (7, 8, 9, 10)], [tuple(range(100, 112))], [(11,)]]


def test_group_commit_raises_the_batch_error_in_every_caller_and_recovers():
    calls = []

    def run(items: Sequence[str]) -> dict[str, str]:
        calls.append(list(items))
        if "bad" in items:
            raise RuntimeError("database went away")
        return {item: item.upper() for item in items}

    group: GroupCommit[str, str] = GroupCommit(run)
    with pytest.raises(RuntimeError, match="went away"):
        group.submit("bad")
    assert group.submit("ok") == "OK"  # the failed batch did not leave the group busy


def test_group_commit_lingers_only_under_steady_traffic_so_one_by_one_arrivals_share_a_batch():
    batches: list[list[int]] = []
    group: GroupCommit[int, int] = GroupCommit(lambda items: batches.append(list(items)) or {i: i for i in items},
                                               linger=0.5)
    assert group.submit(1) == 1  # the first arrival after a quiet spell runs at once, as a batch of one
    second = threading.Thread(target=group.submit, args=(2,))
    second.start()  # within the linger of the first: its leader waits for company

    def leading() -> bool:
        with group._mutex:
            return group._running

    support.poll(leading, 10, what="the second item's leader to take the lead")
    third = threading.Thread(target=group.submit, args=(3,))
    third.start()
    for thread in (second, third):
        thread.join(10)
    assert batches == [[1], [2, 3]]
    idle: GroupCommit[int, int] = GroupCommit(lambda items: {i: i for i in items}, linger=30.0)
    started = time.monotonic()
    assert idle.submit(7) == 7 and time.monotonic() - started < 30  # nothing came before it: no wait
    # A list (a check batch's message for the model) is a batch itself: under steady traffic it does not wait.
    lists: GroupCommit[tuple[int, ...], int] = GroupCommit(lambda items: {i: len(i) for i in items}, linger=30.0,
                                                           weight=len)
    started = time.monotonic()
    assert lists.submit((1,)) == 1 and lists.submit((2, 3, 4)) == 3 and time.monotonic() - started < 30

@pytest.fixture
def database(stack, clean_db):  # type: ignore[no-untyped-def]
    db.configure(stack.database_url)
    return stack


def _row(comment_id: int) -> Comment:
    with db.session_scope() as session:
        return session.get(Comment, comment_id)


def test_a_batch_records_each_comment_once_and_only_undecided_pending_ones(database):
    clean = seed.comment("a lovely day", status=Status.PENDING, translations={"fr": {"status": "pending"}})
    profane = seed.comment("what the fuck", status=Status.PENDING)
    decided = seed.comment("shit happens", status=Status.PENDING)
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == decided).values(decision="approved"))
    done = seed.comment("fine", status=Status.PUBLISHED)
    out = checking.check_comments([clean, profane, decided, done, profane, 10**9], max_attempts=3)
    assert out == {clean: checking.Checked(Status.PUBLISHED, ["fr"]), profane: checking.Checked(Status.FLAGGED, [])}
    assert (_row(clean).status, _row(clean).check_attempts) == (Status.PUBLISHED, 1)
    flagged = _row(profane)
    assert (flagged.status, flagged.matched_words, flagged.check_attempts) == (Status.FLAGGED, ["fuck"], 1)
    assert flagged.censored_body == "what the ****" and flagged.flagged_at is not None
    assert (_row(decided).status, _row(decided).check_attempts) == (Status.PENDING, 0)
    with db.session_scope() as session:
        events = session.execute(select(AuditEvent.comment_id, AuditEvent.action, AuditEvent.detail)).all()
    assert events == [(profane, "flagged", {"words": ["fuck"], "source": "body", "reasons": ["profanity"]})]
    # Run twice: nothing changes, no second audit event.
    assert checking.check_comments([clean, profane], max_attempts=3) == {}
    with db.session_scope() as session:
        assert len(session.scalars(select(AuditEvent)).all()) == 1


def test_a_comment_out_of_attempts_is_held_while_the_rest_of_its_batch_is_checked(database):
    spent = seed.comment("hello", status=Status.PENDING)
    fresh = seed.comment("hello again", status=Status.PENDING)
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == spent).values(check_attempts=3))
    assert checking.check_comments([spent, fresh], max_attempts=3) == {
        spent: checking.Checked(Status.FLAGGED, []), fresh: checking.Checked(Status.PUBLISHED, [])}
    held = _row(spent)
    assert (held.status, held.check_error) == (Status.FLAGGED, "profanity check failed 3 times")
    assert _row(fresh).status == Status.PUBLISHED


def test_group_commit_under_contention_answers_every_caller_with_its_own_result():
    sizes: list[int] = []

    def run(items: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        sizes.append(len(items))
        time.sleep(0.0002)  # a round trip to the database: the other callers queue meanwhile
        if len(sizes) % 7 == 0:
            raise ValueError(f"batch {len(sizes)}")
        return {item: item[0] * 1000 + item[1] for item in items}

    group: GroupCommit[tuple[int, int], int] = GroupCommit(run, max_size=5)
    wrong: list[object] = []
    failures = [0] * 12

    def caller(thread: int) -> None:
        for n in range(300):
            try:
                if group.submit((thread, n)) != thread * 1000 + n:
                    wrong.append((thread, n))
            except ValueError:
                failures[thread] += 1

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a caller never woke up"
    assert wrong == []
    assert sum(sizes) == 12 * 300 and max(sizes) <= 5
    assert max(sizes) > 1  # batches did form
    assert sum(failures) == sum(size for i, size in enumerate(sizes, 1) if i % 7 == 0)


def test_a_comment_the_engine_chokes_on_fails_alone_and_its_batch_mates_are_recorded(database, monkeypatch):
    good = seed.comment("a calm remark", status=Status.PENDING)
    bad = seed.comment("the one that breaks", status=Status.PENDING)
    engine_class = type(wordlists.engine_at(0))
    real_check = engine_class.check

    def check(self, body: str):  # type: ignore[no-untyped-def]
        if "breaks" in body:
            raise RecursionError("engine gave up")
        return real_check(self, body)

    monkeypatch.setattr(engine_class, "check", check)
    out = checking.check_comments([good, bad], max_attempts=3)
    assert out[good] == checking.Checked(Status.PUBLISHED, [])
    assert isinstance(out[bad], RecursionError)
    assert (_row(bad).status, _row(bad).check_attempts) == (Status.PENDING, 1)  # counted, retried later
    assert isinstance(checking.check_comments([bad], max_attempts=3)[bad], RecursionError)  # raised in its message


def test_prepared_statements_are_prepared_once_per_connection_and_again_after_a_reconnect(database):
    if database.backend != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    from sqlalchemy import event

    prepares: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("PREPARE "):
            prepares.append(statement.split()[1])

    engine = db.autocommit_engine()
    engine.dispose()
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        ids = [seed.comment(f"hello {n}", status=Status.PENDING) for n in range(3)]
        assert checking.check_comments(ids[:1], max_attempts=3)
        assert checking.check_comments(ids[1:2], max_attempts=3)
        assert prepares == ["parley_claim_checks", "parley_record_checks"]
        engine.dispose()  # a new connection knows nothing of the old one's statements
        assert checking.check_comments(ids[2:], max_attempts=3)
        assert prepares[2:] == ["parley_claim_checks", "parley_record_checks"]
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
