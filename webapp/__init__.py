"""Parley's web application: the public JSON API, moderator pages and ops endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from core.config import Settings
from core.logs import configure_logging
from core.storage import db
from core.storage.models import MAX_ID


class IdConverter(IntegerConverter):
    """``<int:…>`` in URLs, capped at MAX_ID: a larger id is unknown (404), not a driver overflow (500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the Flask application."""
    app = Flask(__name__, instance_relative_config=True)
    settings = configure(app, test_config)
    db.configure(settings.database_url, prepared=settings.database_prepared)
    register_extensions(app)
    register_blueprints(app)
    return app


def configure(app: Flask, test_config: Mapping[str, Any] | None) -> Settings:
    """Load the settings (from *test_config* or the environment) into *app*; return them."""
    settings = (test_config or {}).get("PARLEY") or Settings.from_env()
    configure_logging(settings)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        PARLEY=settings,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
    )
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:
        from webapp.proxy import TrustedProxies

        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    app.json.sort_keys = False  # keep the documented field order
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its routes
    return settings


def register_extensions(app: Flask) -> None:
    """Install the per-request session, security headers, CSRF, CORS, shared helpers, error handlers, metrics, CLI."""
    from webapp import cli, cli_signals, cors, errors, metrics, security, sessions, web

    sessions.init_app(app)
    security.init_app(app)
    cors.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)
    cli.init_app(app)
    cli_signals.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount the public API, the widget and its demo, the moderator API and pages, and the ops endpoints."""
    from webapp import (
        api,
        auth,
        bans_api,
        embed,
        health,
        moderation_api,
        notifications,
        ops_api,
        pages,
        pages_bans,
        pages_ops,
        pages_stats,
        pages_webhooks,
        pages_words,
    )

    for module in (health, api, embed, moderation_api, bans_api, ops_api, auth, pages, pages_words, pages_stats,
                   pages_ops, pages_webhooks, pages_bans, notifications):
        app.register_blueprint(module.bp)
