"""The front door: the embeddable widget (/embed.js), a demo host page (/demo/) and the home page (/)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory
from flask.typing import ResponseReturnValue

bp = Blueprint("embed", __name__)

STATIC = Path(__file__).parent / "static"
#: The README, when the checkout has one (the Docker image ships without it).
README = Path(__file__).parent.parent / "README.md"
#: Browsers may keep the widget an hour, then revalidate it cheaply (ETag / Last-Modified).
SCRIPT_MAX_AGE = 3600
#: The thread the demo page shows.
DEMO_THREAD = "demo/welcome"


@bp.get("/embed.js")
def embed_js() -> ResponseReturnValue:
    """Serve the widget script; a host page loads it with a plain script tag (no CORS needed)."""
    response = send_from_directory(STATIC, "embed.js", mimetype="application/javascript", max_age=SCRIPT_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
    # Host pages that isolate themselves (Cross-Origin-Embedder-Policy) may still load it.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/demo/")
def demo() -> ResponseReturnValue:
    """Show a host page embedding the widget with the documented snippet."""
    return render_template("embed/demo.html", thread=DEMO_THREAD)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Show a short page linking to the demo, the moderator pages and the README."""
    return render_template("embed/index.html", readme=README.is_file())


@bp.get("/readme")
def readme() -> ResponseReturnValue:
    """Serve the README as plain text when the checkout has one."""
    if not README.is_file():
        abort(404)
    return README.read_text(encoding="utf-8"), 200, {"Content-Type": "text/plain; charset=utf-8"}
