"""Helpers for the page and browser tests: hostile payloads, the app on a real port, the screenshots' data."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from core.storage import db
from core.storage.models import Status, utcnow
from tests import seed
from tests.support import ROOT

#: Payloads that would run script if any user text reached the page unescaped.
XSS_BODY = "<script>alert('body')</script><img src=x onerror=\"alert('body-img')\">"
XSS_AUTHOR = "<img src=x onerror=alert('author')>"
XSS_TRANSLATION = "<svg onload=alert('translation')></svg><script>alert('tr')</script>"

#: Debian's chromium, which Playwright drives (scripts/ensure_browser.sh installs it).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a headless chromium (Playwright), or skip the test when chromium or Playwright is missing."""
    import pytest

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def login(page: Any, name: str = "alice") -> None:
    """Log in through the moderator form and land on the queue."""
    page.goto("/moderation/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(seed.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/moderation/$"))


#: axe-core from the npm registry, installed by scripts/ensure_browser.sh (`make browser`).
AXE_JS = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Any, context: Any = None,
                   impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Return axe-core's violations of these *impacts* on *page* (whole document, or the axe *context*)."""
    # Each violation is axe's dict (id, impact, help, nodes with target and html); shadow roots are checked too.
    if not AXE_JS.exists():
        raise FileNotFoundError(f"{AXE_JS} is missing: run `make browser` (scripts/ensure_browser.sh)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not a <script> tag: the pages' strict CSP would block that.
        page.evaluate(f"() => {{ {AXE_JS.read_text()}\n }}")
    result = page.evaluate("async (context) => await axe.run(context || document, {resultTypes: ['violations']})",
                           context)
    return [violation for violation in result["violations"] if violation["impact"] in impacts]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Return a readable summary of axe violations for an assertion message."""
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
                     for v in violations)


class LiveServer:
    """The Flask app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


#: Flagged comments for the screenshots: (author, thread, lang, body, matched words, translation, words in it).
SHOWCASE_QUEUE = [
    ("Greg Whitfield", "news/2025/city-council-budget", "en",
     "Another 15% rise in parking fees and not a single new bus line. Whoever signed this off is a complete "
     "asshole, and the council knows it.", ["asshole"], None, None),
    ("Jürgen Weiß", "news/2025/city-council-budget", "de",
     "Was für ein Bullshit-Haushalt. Die Stadt spart bei den Schulen und baut den dritten Kreisverkehr.",
     ["bullshit"], "What a bullshit budget. The city cuts schools and builds its third roundabout.", ["bullshit"]),
    ("Javier Ortega", "sport/derby-report", "es",
     "El árbitro fue un puto desastre, qué partido más lamentable.", [],
     "The referee was a fucking disaster, what a pathetic match.", ["fucking"]),
    ("Claire Dubois", "travel/north-lincolnshire", "en",
     "Greetings from Scunthorpe! Your photos of the steelworks at dusk are lovely.", ["cunt"], None, None),
    ("CryptoRewards_Official", "news/2025/city-council-budget", "en",
     "Free crypto giveaway for readers → claim at bit.ly/\u202egnp.exe\u202c", ["crypto giveaway"], None, None),
    ("نادية", "world/elections-2025", "ar",
     "هذا المرشح كاذب ولا يستحق صوت أحد", ["كاذب"], "This candidate is a liar and deserves nobody's vote.",
     ["liar"]),
]


def seed_showcase(days: int = 14) -> dict[str, int]:
    """Seed realistic data for the screenshots: a queue, two weeks of history, word lists, jobs."""
    import random

    from core.moderation import audit, wordlists
    from core.storage.models import Task

    rng = random.Random(7)
    now = utcnow()
    ids: dict[str, int] = {}
    authors = ["Priya N.", "Tom Baker", "lena_k", "Oskar", "M. Rossi", "Hannah", "Kwame A.", "Sofia L."]
    threads = ["news/2025/city-council-budget", "sport/derby-report", "travel/north-lincolnshire"]
    with db.session_scope() as session:
        for day in range(days, 0, -1):
            for _ in range(rng.randint(6, 16)):
                created = now - timedelta(days=day, minutes=rng.randint(0, 23 * 60))
                thread = rng.choice(threads)
                author = rng.choice(authors)
                if rng.random() < 0.3:
                    decided = created + timedelta(minutes=rng.randint(3, 6 * 60 if day > 3 else 90))
                    action = "approve" if rng.random() < 0.55 else "reject"
                    moderator = rng.choice(["alice", "bob"])
                    reason = None if action == "approve" else rng.choice(
                        ["Insult aimed at another reader", "Spam link", None])
                    comment_id = seed.comment("Honestly this referee was shit, but fine, well played.",
                                              thread=thread, author=author, created_at=created, session=session)
                    seed.decision(comment_id, action, moderator, reason, at=decided, session=session)
                else:
                    seed.comment("Thanks for the article, very informative.", status=Status.PUBLISHED,
                                 thread=thread, author=author, created_at=created, session=session)
        for index, (author, thread, lang, body, words, text, text_words) in enumerate(SHOWCASE_QUEUE):
            translations = {"en": {"status": "done", "text": text, "matched_words": text_words}} if text else None
            ids[author] = seed.comment(body, thread=thread, author=author, lang=lang, words=words,
                                       translations=translations, created_at=now - timedelta(minutes=95 - index * 13),
                                       session=session)
            audit.record(session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=ids[author],
                         detail={"words": words or text_words, "source": "body" if words else "translation:en"},
                         dedupe_key=f"flagged:{ids[author]}")
        changes = [("add", "banned", "crypto giveaway", "alice"), ("add", "allowed", "scunthorpe", "bob"),
                   ("add", "banned", "bit.ly", "alice"), ("remove", "banned", "bit.ly", "alice"),
                   ("add", "allowed", "dickens", "bob")]
        for op, kind, word, by in changes:
            wordlists.apply(session, wordlists.Change(op=op, kind=kind, word=word), by)
        session.add(Task(kind="wordlist_preview", params={"op": "add", "kind": "allowed", "word": "scunthorpe"},
                        status="done", done=41, total=41, created_by="bob",
                        result={"would_flag": 0, "would_unflag": 1, "examples": [ids["Claire Dubois"]]}))
        session.add(Task(kind="rescan", params={}, status="done", done=41, total=41, created_by="alice",
                        result={"flagged": 1, "unflagged": 0, "examples": [ids["CryptoRewards_Official"]]}))
    return ids
