"""Mail links: confirm an address (GET), unsubscribe in one click (RFC 8058 POST) or from a page (GET shows a button).

The token in the link authenticates these requests, so the unsubscribe POST needs no CSRF token: a mail
client posts ``List-Unsubscribe=One-Click`` to the link without any session (webapp/security.py exempts it).
"""

from __future__ import annotations

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue

from core.notifications import addresses
from webapp.sessions import get_session

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def page(state: str, status: int = 200, token: str | None = None) -> ResponseReturnValue:
    """Render the page for *state*; the token-bearing pages are never cached nor indexed."""
    response = make_response(render_template("notifications/page.html", state=state, token=token), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/confirm")
def confirm() -> ResponseReturnValue:
    """Confirm the address of the link's token: reply notifications may be sent to it from now on."""
    session = get_session()
    row = addresses.confirm(session, request.args.get("token"))
    if row is None:
        return page("invalid", 404)
    session.commit()
    return page("confirmed")


@bp.get("/unsubscribe")
def unsubscribe_page() -> ResponseReturnValue:
    """Show a button that stops all mail to the link's address (GET itself changes nothing)."""
    token = request.args.get("token")
    row = addresses.by_unsubscribe_token(get_session(), token)
    if row is None:
        return page("invalid", 404)
    return page("unsubscribed" if row.unsubscribed_at else "ask", token=token)


@bp.post("/unsubscribe")
def unsubscribe() -> ResponseReturnValue:
    """Stop all mail to the link's address: one click, from a mail client (RFC 8058) or the page's button."""
    session = get_session()
    row = addresses.unsubscribe(session, request.args.get("token"))
    if row is None:
        return page("invalid", 404)
    session.commit()
    return page("unsubscribed")
