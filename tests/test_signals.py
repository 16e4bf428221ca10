"""Spam signals as pure functions, and what the API stores and shows of them: intake, visibility, views, edits,
the detected language passed to the translation provider (both databases)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select, update

from core.config import Settings
from core.moderation import checking
from core.signals import identity, spam
from core.storage import db
from core.storage.models import Comment, Status, Translation
from core.translation import adapter, workflow
from tests import seed
from tests.clients import post

MAX = 3
FRENCH = "Bonjour à tous, je trouve cet article vraiment très intéressant et très bien écrit."
ENGLISH = "Good morning everyone, I find this article really interesting and very well written."


# ---- pure functions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "count"), [
    ("no links here, e.g. file.py or example.com", 0),
    ("https://a.example/x?y=1 and http://b.example", 2),
    ("www.shop.example plus shop.example/buy-now", 2),
    ("mail me at me@mail.example/x", 0),
    ("https://www.a.example/www.b.example/c", 1),
    ("WWW.SHOP.EXAMPLE in capitals", 1),
    ("HTTPS://A.EXAMPLE", 1),
])
def test_links_counts_schemes_www_and_bare_domains_with_a_path(text, count):
    assert spam.links(text) == count


def test_fingerprints_keep_exactly_the_letters_str_isalpha_keeps():
    """The fingerprint's letter runs are found by a pattern; its words are still str.isalpha()'s, numerals such as
    "½" or "Ⅷ" (word characters to the pattern) included: stored fingerprints stay comparable."""
    import hashlib
    import random
    import unicodedata

    def reference(body: str) -> str | None:
        text = unicodedata.normalize("NFKC", body).casefold()
        normal = " ".join("".join(ch if ch.isalpha() else " " for ch in text).split())
        if len(normal.replace(" ", "")) < spam.MIN_FINGERPRINT_CHARS:
            return None
        return hashlib.sha256(normal.encode()).hexdigest()

    pieces = ["Buy", "now", "ÉTÉ", "straße", "1", "½", "Ⅷ", "৴", "_", "-", " ", "\n", "😀", "İ", "ǅ", "\u0301", "x²"]
    rng = random.Random(16)
    for _ in range(3000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        assert spam.fingerprint(body) == reference(body), body
    same = spam.fingerprint("Buy now, cheap watches here 1!!")
    assert same is not None and same == spam.fingerprint("buy now cheap watches  here 2")


def test_the_links_shortcut_counts_what_the_pattern_counts():
    """A text without "/" or "www." skips the pattern: on texts mixing every piece of a link, same counts."""
    import random

    pieces = ["word", "file.py", "Example.COM", "/", "www.", "WwW.", "http:", "//", "shop.example", "é", ".", "-",
              "a/b", "me@x.example", "\n", " ", " ", " "]
    rng = random.Random(15)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert spam.links(text) == len(spam._LINK.findall(text)), text


def test_fingerprint_ignores_case_punctuation_digits_and_spacing_but_not_words():
    base = spam.fingerprint("Buy cheap watches today at our shop")
    assert base is not None and len(base) == 64
    assert spam.fingerprint("  BUY cheap   watches today, at our shop 24/7!!") == base
    assert spam.fingerprint("Ｂｕｙ cheap watches today at our shop") == base  # NFKC: full-width letters
    assert spam.fingerprint("Buy cheap clocks today at our shop") != base
    assert spam.fingerprint("Thanks! 👍") is None  # too short to count as a copy


def test_evaluate_names_reasons_in_the_contract_order_and_trust_skips_only_soft_ones():
    settings = Settings()
    inputs = spam.Inputs(links=5, new_author=True, duplicates=3, burst_email=9, banned=True, words=["shit"])
    signals, reasons = spam.evaluate(inputs, settings)
    assert reasons == ["profanity", "links", "duplicate", "burst", "banned"]
    assert signals == {"profanity": ["shit"], "links": 5, "new_author": True, "duplicate": 3, "burst": 9,
                       "banned": True}
    trusted_signals, trusted_reasons = spam.evaluate(spam.Inputs(**{**inputs.__dict__, "trusted": True}), settings)
    assert trusted_reasons == ["profanity", "duplicate", "banned"] and trusted_signals["trusted"] is True
    assert spam.holds(["profanity"]) is False and spam.holds(["profanity", "links"]) is True
    assert spam.evaluate(spam.Inputs(links=2, new_author=False), settings) == ({"links": 2}, [])


# ---- the API ------------------------------------------------------------------------------------------------


@pytest.fixture
def config(stack):  # type: ignore[no-untyped-def]
    return stack.settings(translation_targets=("en", "fr"), burst_max=5, duplicate_max=2)  # the defaults


@pytest.fixture
def app(stack, vhost, clean_db, config):  # type: ignore[no-untyped-def]
    """The app on a vhost no worker consumes; the check runs in the test."""
    from webapp import create_app

    return create_app({"PARLEY": replace(config, broker_url=vhost), "TESTING": True})


def stored(comment_id: int) -> Comment:
    with db.session_scope() as session:
        return session.get(Comment, comment_id)


def test_a_post_stores_the_fingerprint_and_the_keyed_client_hash_never_the_address(client, config):
    comment_id = post(client, {"thread": "t", "author": "Ada", "body": ENGLISH}).get_json()["id"]
    row = stored(comment_id)
    assert row.fingerprint == spam.fingerprint(ENGLISH)
    assert row.client_hash == identity.client_hash(config, "127.0.0.1") and "127.0.0.1" not in row.client_hash
    assert (row.held, row.signals, row.flag_reasons) == (False, None, None)


def test_a_honeypot_comment_is_held_with_its_reason_and_looks_pending(client):
    response = post(client, {"thread": "t", "author": "Bot", "body": "buy now", "website": "http://spam.example"})
    row = stored(response.get_json()["id"])
    assert (row.status, row.held, row.flag_reasons, row.signals) == (
        Status.FLAGGED, True, ["honeypot"], {"honeypot": True})
    assert client.get(f"/api/comments/{row.id}").get_json()["status"] == Status.PENDING


@pytest.mark.parametrize("policy", ["hold", "censor"])
def test_a_held_comment_is_never_shown_under_either_policy_until_approved(stack, vhost, clean_db, policy):
    from webapp import create_app

    client = create_app({"PARLEY": stack.settings(broker_url=vhost, moderation_policy=policy),
                         "TESTING": True}).test_client()
    held = seed.comment("a polite remark with links", thread="t", words=(), held=True, flag_reasons=["links"],
                        signals={"links": 3})
    profane = seed.comment("what a load of shit", thread="t")
    view = client.get(f"/api/comments/{held}").get_json()
    assert (view["status"], view["body"]) == (Status.PENDING, None)
    listed = [c["id"] for c in client.get("/api/threads/t/comments").get_json()["comments"]]
    assert listed == ([profane] if policy == "censor" else [])  # profanity alone is shown censored
    assert client.get("/api/counts?thread=t").get_json()["counts"]["t"] == len(listed)
    # A moderator's approval shows it (and clears held), keeping its reasons as history.
    from core.moderation import decisions

    with db.session_scope() as session:
        decisions.decide(session, held, decisions.DecisionRequest("approve", None), "alice", stack.settings())
    assert (stored(held).held, stored(held).flag_reasons) == (False, ["links"])
    assert client.get(f"/api/comments/{held}").get_json()["body"] == "a polite remark with links"


def test_the_moderator_view_has_signals_and_reasons(app):
    from core.comments import views

    held = seed.comment("spam spam", words=(), held=True, flag_reasons=["duplicate"], signals={"duplicate": 3})
    with db.session_scope() as session:
        view = views.full_view(session.get(Comment, held))
    assert (view["signals"], view["flag_reasons"], view["held"]) == ({"duplicate": 3}, ["duplicate"], True)


def test_a_french_comment_without_lang_is_translated_from_french_and_never_into_it(client, config, fake_translator):
    # Given a comment posted without lang, in French, on a site translating into English and French
    posted = post(client, {"thread": "t", "author": "Ada", "body": FRENCH}).get_json()
    assert sorted(posted["translations"]) == ["en", "fr"] and posted["lang_detected"] is False
    comment_id = posted["id"]
    # When it is checked
    out = checking.check_comments([comment_id], MAX, settings=config)
    # Then its language is French, detected, with no translation into French, and the English one from French
    assert out[comment_id] == checking.Checked(Status.PUBLISHED, ["en"])
    view = client.get(f"/api/comments/{comment_id}").get_json()
    assert (view["lang"], view["lang_detected"], list(view["translations"])) == ("fr", True, ["en"])
    fake_translator.clear()
    assert workflow.translate(comment_id, "en", adapter.build_translator(config), MAX) == "done"
    assert [r.params.get("source") for r in fake_translator.translations()] == ["fr"]
    # And an edit into English detects again: the French translation is back, the English one dropped
    token = posted["author_token"]
    edited = client.patch(f"/api/comments/{comment_id}", json={"body": ENGLISH}, headers={"X-Author-Token": token})
    assert edited.status_code == 200 and edited.get_json()["lang"] is None
    assert stored(comment_id).fingerprint == spam.fingerprint(ENGLISH)
    assert checking.check_comments([comment_id], MAX, settings=config)[comment_id].langs == ["fr"]
    with db.session_scope() as session:
        langs = session.scalars(select(Translation.lang).where(Translation.comment_id == comment_id)).all()
    assert (stored(comment_id).lang, stored(comment_id).lang_detected, langs) == ("en", True, ["fr"])


def test_an_edit_clears_the_signals_of_the_old_text(client, config):
    posted = post(client, {"thread": "t", "author": "Ada", "lang": "en",
                           "body": "https://a.example/1 https://b.example/2 https://c.example/3"}).get_json()
    comment_id = posted["id"]
    assert checking.check_comments([comment_id], MAX, settings=config)[comment_id].status == Status.FLAGGED
    assert stored(comment_id).held is True
    with db.session_scope() as session:  # as the classifier would have left it
        session.execute(update(Comment).where(Comment.id == comment_id).values(model_score=0.5, classify_attempts=1))
    client.patch(f"/api/comments/{comment_id}", json={"body": ENGLISH},
                 headers={"X-Author-Token": posted["author_token"]})
    row = stored(comment_id)
    assert (row.status, row.held, row.signals, row.flag_reasons, row.model_score, row.classify_attempts) == (
        Status.PENDING, False, None, None, None, 0)
    assert checking.check_comments([comment_id], MAX, settings=config)[comment_id].status == Status.PUBLISHED
