"""The check's spam signals, trust, language and model stage (core.moderation.checking), on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from core.moderation import checking
from core.signals import identity, spam
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow
from core.storage.models_notifications import MailAddress
from core.storage.models_signals import Ban
from tests import seed

MAX = 3


@pytest.fixture
def settings(stack, clean_db):  # type: ignore[no-untyped-def]
    db.configure(stack.database_url)
    yield stack.settings(burst_max=5, duplicate_max=2)  # the defaults (the suite's are out of reach)
    with db.session_scope() as session:
        session.execute(delete(Ban))


def pending(body: str, minutes_ago: float = 0, **columns: object) -> int:
    """Seed a comment as the POST leaves it: pending, its fingerprint stamped."""
    columns.setdefault("fingerprint", spam.fingerprint(body))
    return seed.comment(body, status=Status.PENDING, created_at=utcnow() - timedelta(minutes=minutes_ago),
                        **columns)


def row(comment_id: int) -> Comment:
    with db.session_scope() as session:
        return session.get(Comment, comment_id)


def check(settings, *ids: int) -> dict:  # type: ignore[no-untyped-def]
    return checking.check_comments(list(ids), MAX, settings=settings)


def test_links_hold_a_comment_over_the_limit_and_a_new_author_sooner(settings):
    # Given an author known by a published comment, and a new one
    seed.comment("an earlier comment", status=Status.PUBLISHED, email="known@example.org")
    two = pending("see https://a.example/x and www.b.example", email="known@example.org")
    three = pending("https://a.example http://b.example/y c.example/z", email="known@example.org", thread="t2")
    new_one = pending("my blog: https://me.example", email="new@example.org")
    new_two = pending("https://me.example and https://you.example/", email="other@example.org")
    out = check(settings, two, three, new_one, new_two)
    assert {i: o.status for i, o in out.items()} == {two: Status.PUBLISHED, three: Status.FLAGGED,
                                                     new_one: Status.PUBLISHED, new_two: Status.FLAGGED}
    held = row(three)
    assert (held.held, held.flag_reasons, held.signals) == (True, ["links"], {"links": 3})
    assert row(new_two).flag_reasons == ["links"] and row(new_two).signals == {"links": 2, "new_author": True}
    assert (row(new_one).held, row(new_one).signals) == (False, {"links": 1, "new_author": True})
    with db.session_scope() as session:
        detail = session.scalar(select(AuditEvent.detail).where(AuditEvent.comment_id == three))
    assert detail == {"reasons": ["links"], "signals": {"links": 3}}


def test_the_third_copy_across_threads_within_the_window_is_held_and_every_later_one(settings):
    text = "Cheap watches at the best prices, visit our shop today"
    stale = pending(text, minutes_ago=90, thread="old")  # out of the 60-minute window
    copies = [pending(text.upper() + f" {n}!", minutes_ago=10 - n, thread=f"t{n}") for n in range(4)]
    assert len({row(i).fingerprint for i in [stale, *copies]}) == 1  # case, digits, punctuation normalised
    out = check(settings, *copies)
    assert [out[i].status for i in copies] == [Status.PUBLISHED, Status.PUBLISHED, Status.FLAGGED, Status.FLAGGED]
    assert [row(i).signals for i in copies] == [None, {"duplicate": 2}, {"duplicate": 3}, {"duplicate": 4}]
    assert [row(i).held for i in copies] == [False, False, True, True]
    assert row(copies[3]).flag_reasons == ["duplicate"]
    assert out[copies[2]].langs == [] and out[copies[2]].notifications == []  # no translation of a held copy


def test_short_common_texts_are_never_copies(settings):
    ids = [pending("Thanks!", thread=f"t{n}") for n in range(4)]
    assert {o.status for o in check(settings, *ids).values()} == {Status.PUBLISHED}
    assert row(ids[0]).fingerprint is None


@pytest.mark.parametrize("column", ["email", "client_hash"])
def test_a_burst_by_one_address_or_one_client_holds_the_comments_over_the_limit(settings, column):
    value = "burst@example.org" if column == "email" else "c" * 64
    ids = [pending(f"comment number {word}", minutes_ago=1 - n / 100, thread=f"t{n}", **{column: value})
           for n, word in enumerate(["one", "two", "three", "four", "five", "six", "seven"])]
    other = pending("someone else entirely", **{column: "other@example.org" if column == "email" else "d" * 64})
    out = check(settings, *ids, other)
    assert [out[i].status for i in ids] == [Status.PUBLISHED] * 5 + [Status.FLAGGED] * 2
    assert [row(i).signals for i in ids[5:]] == [{"burst": 6}, {"burst": 7}]
    assert row(ids[6]).flag_reasons == ["burst"] and out[other].status == Status.PUBLISHED


def test_counts_stop_one_past_the_threshold_when_capped_and_still_hold(settings, monkeypatch):
    from core.signals import inputs

    monkeypatch.setattr(inputs, "COUNT_CAP", 0)  # the cap is then the threshold plus one: 6 for bursts, 3 for copies
    ids = [pending(f"capped comment {word}", minutes_ago=1 - n / 100, thread=f"t{n}", email="cap@example.org")
           for n, word in enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight"])]
    out = check(settings, *ids)
    assert [row(i).signals for i in ids[5:]] == [{"burst": 6}] * 3  # at least 6: enough to decide
    assert [out[i].status for i in ids] == [Status.PUBLISHED] * 5 + [Status.FLAGGED] * 3

def test_a_burst_outside_the_window_is_no_burst(settings):
    ids = [pending(f"spread out comment {word}", minutes_ago=30 - 5 * n, email="slow@example.org")
           for n, word in enumerate(["one", "two", "three", "four", "five", "six"])]
    assert {o.status for o in check(settings, *ids).values()} == {Status.PUBLISHED}


@pytest.mark.parametrize("scope", ["email", "client"])
def test_a_banned_author_is_held_by_address_or_client_and_an_unban_lifts_it(settings, scope):
    email, client = "banned@example.org", "e" * 64
    value = identity.email_hash(settings, email) if scope == "email" else client
    with db.session_scope() as session:
        session.add(Ban(scope=scope, value_hash=value, created_by="alice"))
        session.add(Ban(scope=scope, value_hash="f" * 64, created_by="alice", removed_at=utcnow()))
    banned = pending("a perfectly polite remark", email=email, client_hash=client)
    lifted = pending("another polite remark", email="lifted@example.org", client_hash="f" * 64)
    if scope == "email":
        lifted = pending("another polite remark", email="lifted@example.org")
    out = check(settings, banned, lifted)
    assert out[banned].status == Status.FLAGGED and out[lifted].status == Status.PUBLISHED
    assert (row(banned).held, row(banned).flag_reasons, row(banned).signals) == (True, ["banned"], {"banned": True})


def trusted_author(email: str, approved: int = 3) -> None:
    """Seed a confirmed address with *approved* published comments."""
    with db.session_scope() as session:
        session.add(MailAddress(address=email, confirmed_at=utcnow()))
    for n in range(approved):
        seed.comment(f"good comment {n}", status=Status.PUBLISHED, email=email, thread=f"old{n}",
                     created_at=utcnow() - timedelta(days=2))


def test_trust_skips_links_and_bursts_but_never_the_word_list(settings):
    email = "trusted@example.org"
    trusted_author(email)
    ids = [pending(f"see https://x.example/{n} https://y.example/{n} https://z.example/{n} {word}",
                   minutes_ago=1 - n / 100, email=email, thread=f"t{n}")
           for n, word in enumerate(["one", "two", "three", "four", "five", "six"])]
    profane = pending("this is shit", email=email)
    out = check(settings, *ids, profane)
    assert {out[i].status for i in ids} == {Status.PUBLISHED}
    assert row(ids[5]).signals == {"links": 3, "burst": 6, "trusted": True} and row(ids[5]).flag_reasons is None
    assert out[profane].status == Status.FLAGGED
    assert (row(profane).held, row(profane).flag_reasons) == (False, ["profanity"])
    assert row(profane).signals == {"profanity": ["shit"], "burst": 7, "trusted": True}


@pytest.mark.parametrize("history", ["too_few", "unconfirmed", "rejected"])
def test_no_trust_without_each_piece_of_history(settings, history):
    email = "almost@example.org"
    trusted_author(email, approved=2 if history == "too_few" else 3)
    if history == "unconfirmed":
        with db.session_scope() as session:
            session.get(MailAddress, session.scalar(select(MailAddress.id))).confirmed_at = None
    if history == "rejected":
        seed.comment("a rejected one", status=Status.REJECTED, email=email, decision="reject",
                     decided_at=utcnow() - timedelta(days=3))
    links = pending("https://x.example/1 https://y.example/2 https://z.example/3", email=email)
    assert check(settings, links)[links].status == Status.FLAGGED
    assert row(links).flag_reasons == ["links"]


def test_a_comment_without_lang_gets_the_detected_one_and_no_translation_into_it(settings):
    body = "Bonjour à tous, je trouve cet article vraiment très intéressant et très bien écrit."
    comment_id = pending(body, lang=None, translations={"en": {"status": "pending"}, "fr": {"status": "pending"}})
    given = pending("Good morning everyone, a thoroughly interesting article.", lang="en",
                    translations={"fr": {"status": "pending"}})
    out = check(settings, comment_id, given)
    assert out[comment_id].langs == ["en"] and out[given].langs == ["fr"]
    detected = row(comment_id)
    assert (detected.lang, detected.lang_detected) == ("fr", True)
    assert (row(given).lang, row(given).lang_detected) == ("en", False)
    with db.session_scope() as session:
        langs = session.scalars(select(Translation.lang).where(Translation.comment_id == comment_id)).all()
    assert langs == ["en"]


def test_before_publish_a_clean_comment_awaits_the_model_untranslated(settings):
    config = replace(settings, offensive_model=True, signals_policy="before_publish")
    clean = pending("what a lovely day", translations={"fr": {"status": "pending"}})
    profane = pending("what the fuck")
    out = checking.check_comments([clean, profane], MAX, settings=config)
    assert out[clean] == checking.Checked(Status.PENDING, [], [], classify=True)
    assert out[profane].status == Status.FLAGGED and not out[profane].classify
    awaiting = row(clean)
    assert awaiting.status == Status.PENDING and awaiting.checked_at is not None
    assert checking.check_comments([clean], MAX, settings=config) == {}  # checked: not claimed again


def test_after_publish_a_clean_comment_is_shown_at_once_and_still_classified(settings):
    config = replace(settings, offensive_model=True, signals_policy="after_publish")
    clean = pending("what a lovely day", translations={"fr": {"status": "pending"}})
    assert checking.check_comments([clean], MAX, settings=config) == {
        clean: checking.Checked(Status.PUBLISHED, ["fr"], classify=True)}
    assert row(clean).status == Status.PUBLISHED


def test_a_trusted_author_skips_the_model(settings):
    config = replace(settings, offensive_model=True)
    trusted_author("trusted@example.org")
    comment_id = pending("what a lovely day", email="trusted@example.org")
    assert checking.check_comments([comment_id], MAX, settings=config)[comment_id] == checking.Checked(
        Status.PUBLISHED, [], classify=False)


def test_a_rescan_leaves_a_comment_held_by_another_signal_held(stack, clean_db):
    """A word-list rescan unflags comments the word list flagged, never one held for links, bursts or the model."""
    from core.moderation import tasks

    db.configure(stack.database_url)
    held = seed.comment("Buy now at shop.example/x and shop.example/y", status=Status.FLAGGED, words=(),
                        held=True, flag_reasons=["links"], signals={"links": 2})
    with db.session_scope() as session:
        task_id = tasks.create(session, tasks.RESCAN, {}, "alice").id
    result = tasks.run(task_id)
    assert result["unflagged"] == 0
    with db.session_scope() as session:
        comment = session.get(Comment, held)
        assert (comment.status, comment.held) == (Status.FLAGGED, True)
