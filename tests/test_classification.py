"""The offensive-language model's stage (queue ``classification``): the model, the batched stage under both
policies, its actor through real workers, and a worker killed in the middle of a batch."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.config import Settings
from core.moderation import classifying
from core.notifications import outbox
from core.signals import model
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, TranslationStatus, utcnow
from core.storage.models_notifications import Outbox, WebhookEndpoint
from tests import seed, support
from tests.test_architecture import loaded_after

CLEAN = ["Thanks for the recipe, it worked great.", "nice work, thanks!", "I learned a lot from this post."]
OFFENSIVE = ["you are a complete idiot", "go to hell", "what a stupid worthless piece of shit"]


def test_the_model_scores_clean_and_offensive_english_on_either_side_of_the_threshold():
    threshold = Settings().model_threshold
    scores = model.scores(CLEAN + OFFENSIVE)
    assert all(score < 0.2 for score in scores[:3]), scores
    assert all(score >= threshold for score in scores[3:]), scores
    assert model.scores([]) == []
    assert model.applies("en") and model.applies(None) and model.applies("en-GB")
    assert not model.applies("fr") and not model.applies("de")


def test_the_fast_path_scores_exactly_as_the_package_and_steps_aside_for_a_model_it_does_not_read(monkeypatch):
    """Parley scores with the package's fitted numbers in one matrix product (its per-call validation was 80 % of
    a call); on texts of every shape the scores are the package's, and another model falls back to the package."""
    import random

    from profanity_check import predict_prob
    from profanity_check.profanity_check import model as fitted
    from profanity_check.profanity_check import vectorizer

    fast = model._fast_path(fitted, vectorizer)
    assert fast is not None
    words = " ".join(CLEAN + OFFENSIVE + ["Ünïcödé", "😀", "f*ck", "http://x.example/a", "12345"]).split()
    rng = random.Random(16)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 60))) for _ in range(500)] + CLEAN + OFFENSIVE
    assert max(abs(float(a) - float(b)) for a, b in zip(fast(texts), predict_prob(texts), strict=True)) < 1e-12
    assert model._fast_path(object(), vectorizer) is None  # not a calibrated linear model: the package scores
    monkeypatch.setattr(model, "_predict", None)
    monkeypatch.setattr(model, "_fast_path", lambda *_args: lambda texts: [0.5] * len(texts))  # scores wrongly
    assert model.scores(["go to hell"])[0] > 0.8  # the probes caught it: the package's predict_prob scores


def test_the_model_loads_once_when_threads_score_at_the_same_time(monkeypatch, caplog):
    monkeypatch.setattr(model, "_predict", None)
    caplog.set_level("INFO", logger=model.__name__)
    start = threading.Barrier(8)
    results: list[float] = []

    def score() -> None:
        start.wait(10)
        results.append(model.scores(["go to hell"])[0])

    threads = [threading.Thread(target=score) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 8 and all(r > 0.8 for r in results)
    assert [r.message for r in caplog.records].count("Offensive-language model loaded (alt-profanity-check).") == 1


@pytest.mark.parametrize("statement", [
    "import actors",
    "from webapp import create_app\napp = create_app()\napp.test_client().get('/healthz')",
    "import actors.moderation\nimport core.moderation.classifying\nimport core.scheduling.maintenance",
])
def test_neither_the_web_nor_the_moderation_worker_imports_scikit_learn(statement):
    modules = loaded_after(statement, {"OFFENSIVE_MODEL": "on"})
    assert not {"sklearn", "profanity_check", "scipy", "joblib"} & modules


# ---- the stage on seeded comments ---------------------------------------------------------------------------

@pytest.fixture
def database(stack, clean_db):  # type: ignore[no-untyped-def]
    db.configure(stack.database_url)
    return stack


def awaiting(body: str, status: str = Status.PENDING, **columns: object) -> int:
    """Seed a comment as the check leaves one for the model: clean, checked, not classified."""
    comment_id = seed.comment(body, status=status, words=(), **columns)
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == comment_id)
                        .values(checked_at=utcnow(), signals={"links": 0}, flag_reasons=[], awaits_model=True))
    return comment_id


def row(comment_id: int) -> Comment:
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        session.expunge(comment)
        return comment


def settings_for(stack, policy: str, **overrides: object) -> Settings:  # type: ignore[no-untyped-def]
    return stack.settings(**{"offensive_model": True, "signals_policy": policy, **overrides})


def webhook(events: list[str]) -> None:
    with db.session_scope() as session:
        session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="s" * 32, events=events, enabled=True))


def outbox_events(comment_id: int) -> list[str]:
    with db.session_scope() as session:
        return sorted(session.scalars(select(Outbox.event).where(Outbox.comment_id == comment_id)))


def test_before_publish_publishes_clean_comments_and_holds_offensive_ones(database):
    webhook([outbox.PUBLISHED, outbox.FLAGGED])
    clean = awaiting(CLEAN[0], translations={"fr": {"status": TranslationStatus.PENDING}})
    rude = awaiting(OFFENSIVE[0])
    french = awaiting("tu es un idiot complet", lang="fr")
    unknown = awaiting(OFFENSIVE[1], lang=None)
    out = classifying.classify_comments([clean, rude, french, unknown, 10**9], settings_for(database,
                                                                                              "before_publish"))
    assert {i: (o.status, o.langs) for i, o in out.items()} == {
        clean: (Status.PUBLISHED, ["fr"]), rude: (Status.FLAGGED, []), french: (Status.PUBLISHED, []),
        unknown: (Status.FLAGGED, [])}
    published, held = row(clean), row(rude)
    assert (published.status, published.held, published.classified_at is not None) == (Status.PUBLISHED, False, True)
    assert published.model_score < 0.2 and published.signals["model"] == round(published.model_score, 4)
    assert published.signals["links"] == 0  # the check's signals are kept
    assert (held.status, held.held, held.flag_reasons) == (Status.FLAGGED, True, ["model"])
    assert held.model_score >= 0.8 and held.flagged_at is not None
    # Not English: not scored, passed, and the signal says why.
    skipped = row(french)
    assert (skipped.status, skipped.model_score, skipped.signals["model"]) == (Status.PUBLISHED, None, None)
    assert "English-only" in skipped.signals["model_skipped"]
    assert row(unknown).held  # no language known: scored
    assert outbox_events(clean) == [outbox.PUBLISHED] and outbox_events(rude) == [outbox.FLAGGED]
    assert out[clean].notifications and out[rude].notifications
    with db.session_scope() as session:
        audit = session.execute(select(AuditEvent.comment_id, AuditEvent.action, AuditEvent.detail)
                                .where(AuditEvent.comment_id == rude)).one()
    assert audit[1] == "flagged" and audit[2]["reasons"] == ["model"] and audit[2]["model_score"] >= 0.8
    assert audit[2]["takedown"] is False
    # Run twice: classified comments are not claimed again.
    assert classifying.classify_comments([clean, rude], settings_for(database, "before_publish")) == {}
    assert row(clean).classify_attempts == 1


def test_after_publish_takes_an_offensive_published_comment_down_and_leaves_a_clean_one(database):
    webhook([outbox.PUBLISHED, outbox.FLAGGED])
    clean = awaiting(CLEAN[1], status=Status.PUBLISHED)
    rude = awaiting(OFFENSIVE[2], status=Status.PUBLISHED)
    out = classifying.classify_comments([clean, rude], settings_for(database, "after_publish"))
    assert {i: (o.status, o.langs) for i, o in out.items()} == {
        clean: (Status.PUBLISHED, []), rude: (Status.FLAGGED, [])}
    assert outbox_events(clean) == []  # already published: no second comment.published
    taken_down = row(rude)
    assert (taken_down.status, taken_down.held, taken_down.flag_reasons) == (Status.FLAGGED, True, ["model"])
    assert outbox_events(rude) == [outbox.FLAGGED]
    with db.session_scope() as session:
        detail = session.scalar(select(AuditEvent.detail).where(AuditEvent.comment_id == rude))
    assert detail["takedown"] is True
    assert row(clean).classified_at is not None and row(clean).status == Status.PUBLISHED


def test_a_decision_is_final_and_a_newer_version_discards_the_old_score(database):
    decided = awaiting(OFFENSIVE[0], status=Status.PUBLISHED, decision="approve")
    edited = awaiting(OFFENSIVE[1])
    settings = settings_for(database, "before_publish")
    real = model.scores

    def edit_meanwhile(texts: list[str]) -> list[float]:
        # The author edits between the claim and the record: version 2 awaits its own check.
        with db.session_scope() as session:
            session.execute(update(Comment).where(Comment.id == edited)
                            .values(version=2, body="edited", checked_at=None))
        return real(texts)

    model.scores = edit_meanwhile  # type: ignore[assignment]
    try:
        out = classifying.classify_comments([decided, edited], settings)
    finally:
        model.scores = real  # type: ignore[assignment]
    assert out == {}
    approved = row(decided)
    assert (approved.status, approved.held, approved.model_score, approved.classify_attempts) == (
        Status.PUBLISHED, False, None, 0)
    newer = row(edited)
    assert (newer.version, newer.status, newer.model_score, newer.classified_at, newer.held) == (
        2, Status.PENDING, None, None, False)
    with db.session_scope() as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_a_decision_or_an_edit_meanwhile_wins_over_a_passing_score_in_the_same_batch(database):
    webhook([outbox.PUBLISHED])
    kept, decided, edited = awaiting(CLEAN[0]), awaiting(CLEAN[1]), awaiting(CLEAN[2])
    real = model.scores

    def decide_and_edit_meanwhile(texts: list[str]) -> list[float]:
        # Between the claim and the record: a moderator approves one comment, the author edits another.
        with db.session_scope() as session:
            session.execute(update(Comment).where(Comment.id == decided)
                            .values(decision="approve", status=Status.PUBLISHED))
            session.execute(update(Comment).where(Comment.id == edited).values(version=2, body="edited"))
        return real(texts)

    model.scores = decide_and_edit_meanwhile  # type: ignore[assignment]
    try:
        out = classifying.classify_comments([kept, decided, edited], settings_for(database, "before_publish"))
    finally:
        model.scores = real  # type: ignore[assignment]
    assert list(out) == [kept] and out[kept].status == Status.PUBLISHED and out[kept].notifications
    assert [(row(i).model_score, row(i).classified_at) for i in (decided, edited)] == [(None, None)] * 2
    assert (row(edited).status, outbox_events(decided), outbox_events(edited)) == (Status.PENDING, [], [])
    assert outbox_events(kept) == [outbox.PUBLISHED]


def test_a_comment_out_of_attempts_is_held_for_review_and_a_model_error_fails_alone(database, monkeypatch):
    spent = awaiting(CLEAN[2])
    bad = awaiting("this text breaks the model")
    good = awaiting(CLEAN[0])
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == spent).values(classify_attempts=3))
    real = model.scores

    def choke(texts: list[str]) -> list[float]:
        if "this text breaks the model" in texts:
            raise ValueError("model choked")
        return real(texts)

    monkeypatch.setattr(model, "scores", choke)
    out = classifying.classify_comments([spent, bad, good], settings_for(database, "before_publish",
                                                                         check_max_attempts=3))
    assert isinstance(out[bad], ValueError) and out[good].status == Status.PUBLISHED
    assert out[spent].status == Status.FLAGGED
    held = row(spent)
    assert held.held and held.check_error == "offensive-language model failed 3 times"
    assert row(bad).status == Status.PENDING and row(bad).classify_attempts == 1


def test_the_model_turned_off_meanwhile_passes_awaiting_comments_unscored(database):
    waiting = awaiting(OFFENSIVE[0])
    out = classifying.classify_comments([waiting], settings_for(database, "before_publish", offensive_model=False))
    assert out[waiting].status == Status.PUBLISHED
    assert "OFFENSIVE_MODEL=off" in row(waiting).signals["model_skipped"]


def test_redispatch_resends_comments_stuck_awaiting_the_model(database):
    from core.scheduling import maintenance

    old = utcnow().replace(year=2020)
    stuck_pending = awaiting(CLEAN[0])
    stuck_published = awaiting(CLEAN[1], status=Status.PUBLISHED)
    # after_publish: its classification message never reached the broker, so no worker ever claimed it.
    never_claimed_published = awaiting(CLEAN[2], status=Status.PUBLISHED)
    # Checked before the awaits_model mark existed, and claimed once: still found by its claim.
    claimed_before_the_mark = awaiting(CLEAN[2], status=Status.PUBLISHED)
    skipped_the_model = awaiting(CLEAN[1], status=Status.PUBLISHED)  # a trusted author's: awaits nothing
    fresh = awaiting(CLEAN[0])
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id != fresh).values(updated_at=old, checked_at=old))
        session.execute(update(Comment).where(Comment.id == stuck_published)
                        .values(classify_attempts=1, updated_at=old))
        session.execute(update(Comment).where(Comment.id == claimed_before_the_mark)
                        .values(classify_attempts=1, awaits_model=False, updated_at=old))
        session.execute(update(Comment).where(Comment.id == skipped_the_model)
                        .values(awaits_model=False, updated_at=old))
    settings = settings_for(database, "after_publish")
    with db.session_scope() as session:
        outcome = maintenance.redispatch(session, settings, utcnow())
    assert sorted(outcome.classifications) == sorted(
        [stuck_pending, stuck_published, never_claimed_published, claimed_before_the_mark])
    assert outcome.checks == [] and outcome.detail["classifications"] == 4
    assert row(stuck_pending).redispatches == 1 and row(never_claimed_published).redispatches == 1
    assert row(skipped_the_model).redispatches == 0
    assert fresh not in outcome.classifications


@pytest.mark.parametrize("policy", ["before_publish", "after_publish"])
def test_the_check_marks_what_awaits_the_model_and_an_edit_clears_it(database, policy):
    """The check's record (one statement on PostgreSQL, portable on SQLite) marks the comments it sends to the
    model, and only those: the re-dispatch finds a published one whose message was lost by that mark."""
    from core.comments import authors, edits
    from core.moderation import checking

    settings = settings_for(database, policy)
    token = "the-author-token"
    sent = seed.comment(CLEAN[0], status=Status.PENDING, words=(), author_token_hash=authors.hash_token(token))
    skipped = seed.comment(CLEAN[1], status=Status.PENDING, words=())  # the model off: it skips the stage
    out = checking.check_comments([sent], 3, settings=settings)
    assert out[sent].classify and row(sent).awaits_model
    assert row(sent).status == (Status.PENDING if policy == "before_publish" else Status.PUBLISHED)
    out = checking.check_comments([skipped], 3, settings=settings_for(database, policy, offensive_model=False))
    assert not out[skipped].classify and not row(skipped).awaits_model
    with db.session_scope() as session:
        edits.edit(session, sent, token, CLEAN[2], settings)
    assert not row(sent).awaits_model and row(sent).checked_at is None


# ---- end to end: the API, a moderation worker and a classification worker, each on its own queues ----------

#: Every queue but the model's: what docker-compose's ``worker`` service consumes.
OTHER_QUEUES = ("moderation", "translation", "maintenance", "notifications")


def worker_children(proc: support.Proc) -> list[int]:
    """Return the pids of the worker processes ``dramatiq`` forked (not its supervisor)."""
    children = Path(f"/proc/{proc.popen.pid}/task/{proc.popen.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def maps_library(pid: int, name: str) -> bool:
    """Tell whether process *pid* has mapped a file whose path contains *name*."""
    return name in Path(f"/proc/{pid}/maps").read_text()


def rss_mib(pid: int) -> float:
    """Return the resident memory of process *pid* in MiB."""
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


#: The held comment must never be shown (before_publish) on either database; after_publish's takedown on SQLite is
#: covered by the stage's tests above, which run on both, so its process scenario runs on PostgreSQL only.
@pytest.mark.parametrize(("stack", "policy"), [("sqlite", "before_publish"), ("postgresql", "before_publish"),
                                               ("postgresql", "after_publish")], indirect=["stack"])
def test_comments_pass_the_model_through_real_workers_on_their_own_queues(stack, clean_db, vhost, policy):
    from webapp import create_app

    env = stack.env(OFFENSIVE_MODEL="on", SIGNALS_POLICY=policy, WORKER_METRICS="0")
    env["BROKER_URL"] = vhost
    moderation = support.start_worker(env, threads=4, queues=OTHER_QUEUES)
    classification = support.start_worker(env, threads=4, queues=("classification",))
    app = create_app({"PARLEY": stack.settings(broker_url=vhost, offensive_model=True, signals_policy=policy),
                      "TESTING": True})
    client = app.test_client()
    db.configure(stack.database_url)

    def post(body: str) -> int:
        response = client.post("/api/comments", json={"thread": "model", "author": "Ann", "body": body,
                                                      "lang": "en"})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def shown() -> set[int]:
        return {c["id"] for c in client.get("/api/threads/model/comments").get_json()["comments"]}

    clean, rude = post(CLEAN[0]), post(OFFENSIVE[0])
    seen: set[int] = set()

    def classified() -> bool:
        seen.update(shown())  # polled the whole time: the held comment must never be shown
        return all(row(i).classified_at is not None for i in (clean, rude))

    support.poll(classified, 60, interval=0.05, what="both comments classified")
    assert (row(clean).status, row(clean).held) == (Status.PUBLISHED, False)
    assert (row(rude).status, row(rude).held, row(rude).flag_reasons) == (Status.FLAGGED, True, ["model"])
    assert shown() == {clean}
    if policy == "before_publish":
        assert rude not in seen  # never shown, not even for a moment
    # The model ran in the classification worker only: the moderation worker never loaded scikit-learn.
    assert all(not maps_library(pid, "sklearn") for pid in worker_children(moderation))
    assert any(maps_library(pid, "sklearn") for pid in worker_children(classification))
    logging.getLogger(__name__).info(
        "RSS MiB: moderation worker %s, classification worker %s",
        [round(rss_mib(p)) for p in worker_children(moderation)],
        [round(rss_mib(p)) for p in worker_children(classification)])
    classification.stop()
    moderation.stop()


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_a_check_batch_sends_what_it_passed_to_the_model_in_one_message(stack, clean_db, vhost):
    from webapp import create_app

    env = stack.env(OFFENSIVE_MODEL="on", WORKER_METRICS="0")
    env["BROKER_URL"] = vhost
    app = create_app({"PARLEY": stack.settings(broker_url=vhost, offensive_model=True), "TESTING": True})
    client = app.test_client()
    db.configure(stack.database_url)
    bodies = [CLEAN[0], OFFENSIVE[0], f"{OFFENSIVE[0]}, Bob", f"{OFFENSIVE[0]}, really"]
    ids = [client.post("/api/comments", json={"thread": "batch", "author": "Ann", "body": body, "lang": "en"})
           .get_json()["id"] for body in bodies]
    # Queued before any worker runs: the moderation worker's threads take them together, as check batches.
    classification = support.start_worker(env, threads=4, queues=("classification",))
    moderation = support.start_worker(env, threads=4, queues=OTHER_QUEUES)
    support.poll(lambda: all(row(i).classified_at is not None for i in ids), 60, what="all four classified")
    assert [row(i).status for i in ids] == [Status.PUBLISHED, Status.FLAGGED, Status.FLAGGED, Status.FLAGGED]
    # At least one batch of several passed comments went over as one classify_comments message.
    assert "actor=classify_comments" in classification.log(), classification.log()[-2000:]
    classification.stop()
    moderation.stop()


# ---- fault: the classification worker SIGKILLed while a batch is in the model ------------------------------

#: A stand-in for alt-profanity-check, imported ahead of it by the worker it is given to: it marks that a batch
#: reached the model, takes its time (so the kill lands inside the stage) and scores by a keyword.
SLOW_MODEL = '''
import os, pathlib, time

def predict_prob(texts):
    pathlib.Path(os.environ["PARLEY_TEST_MODEL_MARK"]).write_text(str(len(texts)))
    time.sleep(float(os.environ["PARLEY_TEST_MODEL_DELAY"]))
    return [0.99 if "idiot" in text else 0.01 for text in texts]
'''


def start_on_queues(stack, queues: tuple[str, ...], name: str, **extra: str) -> support.Proc:  # type: ignore[no-untyped-def]
    """Start a ``dramatiq actors --queues ...`` worker on the fault stack (stopped with the stack)."""
    cmd = [str(support.BIN / "dramatiq"), "actors", "--processes", "1", "--threads", "4",
           "--worker-shutdown-timeout", "5000", "--queues", *queues]
    proc = stack._track(support.Proc(name, cmd, stack.env(**extra)))
    proc.wait_for_log("is ready for action", timeout=90)
    return proc


def start_classifier(stack, tmp_path: Path, delay: float) -> support.Proc:  # type: ignore[no-untyped-def]
    """Start a ``--queues classification`` worker on the fault stack whose model is :data:`SLOW_MODEL`."""
    package = tmp_path / "slow_model" / "profanity_check"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SLOW_MODEL)
    return start_on_queues(stack, ("classification",), "fault-classifier", PYTHONPATH=str(package.parent),
                           PARLEY_TEST_MODEL_MARK=str(tmp_path / "in-model"), PARLEY_TEST_MODEL_DELAY=str(delay))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["before_publish", "after_publish"])
def test_classification_worker_killed_in_the_model_stage_loses_nothing_and_never_shows_a_held_comment(
        fault_stack, tmp_path, policy):
    from tests import fault_support
    from tests.fault_support import History, unique_body

    stack = fault_stack
    # One client posts everything: no burst signal, so every comment reaches the model.
    stack.settings.update(OFFENSIVE_MODEL="on", SIGNALS_POLICY=policy, BURST_MAX="1000")
    stack.start_web()
    start_on_queues(stack, OTHER_QUEUES, "fault-worker")
    stack.start_scheduler()
    classifier = start_classifier(stack, tmp_path, delay=3.0)
    history = History()
    bodies = [unique_body(f"model-{n}") + (" you idiot" if n % 3 == 0 else " thanks") for n in range(24)]
    seen: set[int] = set()
    watching = threading.Event()

    def watch() -> None:  # the public API, polled during the whole test
        while not watching.is_set():
            try:
                answer = requests.get(f"{stack.web_url}/api/threads/faults/comments?limit=100", timeout=2).json()
                seen.update(c["id"] for c in answer.get("comments", []))
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stack.post_many(history, bodies, threads=4, lang="en")
        support.poll(lambda: (tmp_path / "in-model").exists(), 30, interval=0.02, what="a batch in the model")
        classifier.signal(signal.SIGKILL)
        assert classifier.popen.wait(10) == -signal.SIGKILL
        with Session(stack.engine) as session:
            unclassified = session.scalar(select(func.count()).where(Comment.classified_at.is_(None)))
        assert unclassified > 0  # the kill cut a batch off before it recorded anything
        start_classifier(stack, tmp_path, delay=0.0)
        fault_support.assert_invariants(stack, history, settle=90)

        def all_classified() -> bool:
            with Session(stack.engine) as session:
                return not session.scalar(select(func.count()).where(Comment.classified_at.is_(None)))

        support.poll(all_classified, 60, interval=0.25, what="every comment classified")
    finally:
        watching.set()
        watcher.join(5)
    with Session(stack.engine) as session:
        rows = list(session.scalars(select(Comment)))
    rude = {c.id for c in rows if "idiot" in c.body}
    assert len(rows) == 24 and len(rude) == 8
    assert all(c.status == Status.FLAGGED and c.held and c.flag_reasons == ["model"] for c in rows if c.id in rude)
    assert all(c.status == Status.PUBLISHED and not c.held for c in rows if c.id not in rude)
    assert max(c.classify_attempts for c in rows) >= 2  # claimed before the kill, and again after
    if policy == "before_publish":
        assert not seen & rude, f"held comments were shown: {sorted(seen & rude)}"
    public = {c["id"] for c in requests.get(f"{stack.web_url}/api/threads/faults/comments?limit=100",
                                            timeout=5).json()["comments"]}
    assert public == {c.id for c in rows} - rude
