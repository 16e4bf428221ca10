"""Moderators' decisions as training labels, on SQLite and PostgreSQL: recorded only for comments the model
scored, once per version; ``flask --app webapp signals export`` writes them as a formula-safe CSV."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from core.moderation import labels
from core.storage import db
from core.storage.models import Comment, Status
from core.storage.models_signals import Label
from tests import seed
from tests.clients import api
from tests.support import BIN, ROOT

TRICKY = ['=HYPERLINK("http://evil.example","click")', "+1 call me", "-2 for you", "@SUM(A1:A2)",
          'a "quoted", multi-line\ncomment', "\tleading tab"]


@pytest.fixture(autouse=True)
def _no_labels_left(stack):  # type: ignore[no-untyped-def]
    """Empty the labels after each test (the shared clean-up predates them)."""
    yield
    db.configure(stack.database_url)
    with db.session_scope() as session:
        session.execute(delete(Label))


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


def all_labels() -> list[Label]:
    """Return every label, oldest first."""
    with db.session_scope() as session:
        return list(session.scalars(select(Label).order_by(Label.id)))


def decide(client, token, comment_id: int, action: str):  # type: ignore[no-untyped-def]
    """Decide a comment through the moderator API."""
    return api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token, {"action": action})


def test_decisions_on_scored_comments_become_labels(client, token):
    rejected = seed.comment("you are an idiot", words=[], model_score=0.91, lang="en")
    approved = seed.comment("ce film est nul", words=[], model_score=0.83, lang="fr")
    unscored = seed.comment("shit happens")  # held by the word list only: the model never saw it
    assert decide(client, token, rejected, "reject").status_code == 200
    assert decide(client, token, approved, "approve").status_code == 200
    assert decide(client, token, unscored, "reject").status_code == 200
    rows = all_labels()
    assert [(r.comment_id, r.label, r.model_score, r.lang, r.version, r.moderator, r.body) for r in rows] == [
        (rejected, "reject", 0.91, "en", 1, "alice", "you are an idiot"),
        (approved, "approve", 0.83, "fr", 1, "alice", "ce film est nul"),
    ]
    assert all(r.decided_at is not None for r in rows)


def test_bulk_decisions_label_each_scored_comment_once(client, token):
    ids = [seed.comment(f"text {n}", words=[], model_score=0.8 + n / 100) for n in range(3)]
    api(client, "post", "/api/moderation/decisions", token, {"action": "reject", "ids": ids})
    assert decide(client, token, ids[0], "reject").status_code == 409  # a repeated decision is refused
    assert [r.comment_id for r in all_labels()] == ids


def test_a_label_is_kept_once_per_comment_version(app):
    comment_id = seed.comment("again", words=[], model_score=0.9)
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        assert labels.record(session, comment, "reject", "alice") is True
        assert labels.record(session, comment, "approve", "bob") is False  # a retried write changes nothing
        comment.version = 2  # the author edited it: the new text is a new example
        assert labels.record(session, comment, "approve", "bob") is True
        assert labels.record(session, comment, "publish", "bob") is False  # not a moderator's verdict
    assert [(r.version, r.label) for r in all_labels()] == [(1, "reject"), (2, "approve")]


def seed_labels() -> list[int]:
    """Seed decided, scored comments with tricky texts and one old label; return the new labels' comment ids."""
    ids = []
    for n, text in enumerate(TRICKY):
        comment_id = seed.comment(text, words=[], model_score=0.5 + n / 100, lang="en", status=Status.FLAGGED)
        with db.session_scope() as session:
            labels.record(session, session.get(Comment, comment_id), "reject" if n % 2 else "approve", "alice")
        ids.append(comment_id)
    old = seed.comment("last year", words=[], model_score=0.99, lang=None)
    with db.session_scope() as session:
        labels.record(session, session.get(Comment, old), "reject", "alice")
        session.execute(Label.__table__.update().where(Label.comment_id == old)
                        .values(decided_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)))
    return ids


def test_export_writes_a_formula_safe_csv_since_a_date(app, tmp_path):
    seed_labels()
    out = tmp_path / "labels.csv"
    result = app.test_cli_runner().invoke(args=["signals", "export", "--output", str(out), "--since", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert f"Exported {len(TRICKY)} labels to {out}." in result.output
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert rows[0] == ["text", "label", "model_score", "lang", "decided_at"]
    texts = [r[0] for r in rows[1:]]
    assert texts == ["'" + TRICKY[0], "'+1 call me", "'-2 for you", "'@SUM(A1:A2)", TRICKY[4], "'\tleading tab"]
    assert [r[1] for r in rows[1:]] == ["0", "1", "0", "1", "0", "1"]  # 1 = rejected (offensive), 0 = approved
    assert rows[1][2] == "0.500000" and rows[1][3] == "en" and rows[1][4].endswith("Z")
    everything = app.test_cli_runner().invoke(args=["signals", "export", "--raw"])
    assert everything.exit_code == 0
    raw_rows = list(csv.reader(io.StringIO(everything.stdout)))
    assert len(raw_rows) == len(TRICKY) + 2 and raw_rows[1][0] == TRICKY[0]  # --raw: as the author wrote it
    assert raw_rows[-1][:4] == ["last year", "1", "0.990000", ""]
    assert raw_rows[-1][4].startswith("2025-01-02T03:04:05")


def test_export_command_runs_as_an_operator_would(stack, app, tmp_path):
    seed_labels()
    out = tmp_path / "export.csv"
    result = subprocess.run([str(BIN / "flask"), "--app", "webapp", "signals", "export", "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, **stack.env()})
    assert result.returncode == 0, result.stderr
    assert len(list(csv.reader(out.open(newline="")))) == len(TRICKY) + 2
    bad = subprocess.run([str(BIN / "flask"), "--app", "webapp", "signals", "export", "--since", "yesterday"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **stack.env()})
    assert bad.returncode == 2 and "--since" in bad.stderr
