"""Moderator web pages (placeholder: the queue)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from webapp.auth import login_required

bp = Blueprint("pages", __name__, url_prefix="/moderation")


@bp.get("/")
@login_required
def queue() -> ResponseReturnValue:
    """Show the review queue."""
    return render_template("base.html")
