"""Settings: the only package that reads the environment (``values`` parses one variable each).

May import: core.errors and core.languages only (every other part of core imports this one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.config.values import (
    broker_nodes,
    choice,
    cron,
    integer,
    number,
    origins,
    power_of_two,
    targets,
    trusted_proxies,
)
from core.errors import ConfigError

PROVIDERS = ("google", "libre", "mymemory", "deepl", "none")
POLICIES = ("hold", "censor")
#: When a comment is shown: once every stage passed it, or on a clean word list (later stages may take it down).
SIGNALS_POLICIES = ("before_publish", "after_publish")
#: RabbitMQ queue types: quorum queues are replicated over a cluster (README "RabbitMQ cluster").
QUEUE_TYPES = ("classic", "quorum")
DEFAULT_DATABASE_URL = "sqlite:///instance/parley.db"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: Placeholder secrets that must never reach production.
WEAK_SECRETS = {"", "dev", "changeme", "secret", "change-me", "development"}


def _mail(env: Mapping[str, str]) -> dict[str, object]:
    """SMTP_URL (empty = mail off), MAIL_FROM, PUBLIC_BASE_URL (required when mail is on) and the digest period."""
    url = env.get("SMTP_URL", "").strip()
    base = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    if url:
        scheme, _, rest = url.partition("://")
        if scheme not in ("smtp", "smtp+starttls", "smtps") or not rest.rsplit("@", 1)[-1].strip("/"):
            raise ConfigError("SMTP_URL must look like smtp://host:25, smtp+starttls://user:pass@host:587 "
                              "or smtps://user:pass@host:465")
        if not base.startswith(("http://", "https://")):
            raise ConfigError("PUBLIC_BASE_URL (like https://comments.example.com) is required when SMTP_URL is set")
    return {"smtp_url": url, "mail_from": env.get("MAIL_FROM", "").strip() or "parley@localhost",
            "public_base_url": base,
            "moderator_digest_minutes": integer(env, "MODERATOR_DIGEST_MINUTES", 15, minimum=1),
            "smtp_timeout_seconds": number(env, "SMTP_TIMEOUT_SECONDS", 10.0)}


def _webhooks(env: Mapping[str, str]) -> dict[str, object]:
    """WEBHOOK_MAX_ATTEMPTS, WEBHOOK_TIMEOUT_SECONDS and WEBHOOK_ALLOW_PRIVATE (loopback/private/link-local URLs)."""
    return {"webhook_max_attempts": integer(env, "WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
            "webhook_timeout_seconds": number(env, "WEBHOOK_TIMEOUT_SECONDS", 5.0),
            "webhook_allow_private": env.get("WEBHOOK_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes", "on")}


def _signals(env: Mapping[str, str]) -> dict[str, object]:
    """The second stage's policy and thresholds (README "The second stage" gives each default's reason)."""
    model = env.get("OFFENSIVE_MODEL", "on").strip().lower()
    if model not in ("on", "off"):
        raise ConfigError("OFFENSIVE_MODEL must be on or off")
    threshold = number(env, "MODEL_THRESHOLD", 0.8)
    if not 0 < threshold <= 1:
        raise ConfigError("MODEL_THRESHOLD must be in (0, 1]")
    return {"signals_policy": choice(env, "SIGNALS_POLICY", "before_publish", SIGNALS_POLICIES),
            "offensive_model": model == "on", "model_threshold": threshold,
            "links_max": integer(env, "LINKS_MAX", 2), "new_author_links_max": integer(env, "NEW_AUTHOR_LINKS_MAX", 1),
            "duplicate_max": integer(env, "DUPLICATE_MAX", 2, minimum=1),
            "duplicate_window_minutes": integer(env, "DUPLICATE_WINDOW_MINUTES", 60, minimum=1),
            "burst_max": integer(env, "BURST_MAX", 5, minimum=1),
            "burst_window_seconds": integer(env, "BURST_WINDOW_SECONDS", 120, minimum=1),
            "trusted_after_approved": integer(env, "TRUSTED_AFTER_APPROVED", 3, minimum=1)}


@dataclass(frozen=True)
class Settings:
    """Every setting Parley reads, with its default; build it with ``Settings.from_env()``."""

    database_url: str = DEFAULT_DATABASE_URL
    #: SQL PREPARE of the hot statements once per connection; off behind a transaction-pooling PgBouncer.
    database_prepared: bool = True
    broker_url: str = DEFAULT_BROKER_URL
    broker_queue_type: str = "classic"
    secret_key: str = "dev"
    env: str = "development"
    translation_provider: str = "google"
    translation_url: str = ""
    translation_api_key: str = ""
    translation_targets: tuple[str, ...] = ("en",)
    translation_timeout_seconds: float = 10.0
    translation_max_attempts: int = 5
    check_max_attempts: int = 5
    check_linger_ms: int = 5
    classify_linger_ms: int = 50
    moderation_policy: str = "hold"
    max_comment_chars: int = 5000
    max_request_bytes: int = 64 * 1024
    publish_timeout_seconds: float = 1.5
    rate_limit_per_minute: int = 30
    proxy_hops: int = 0
    trusted_proxies: tuple[str, ...] = ()
    metrics_token: str = ""
    stuck_after_seconds: int = 300
    redispatch_max_attempts: int = 5
    retention_rejected_days: int = 30
    redispatch_interval_seconds: int = 60
    purge_cron: str = "30 3 * * *"
    daily_stats_cron: str = "15 0 * * *"
    scheduler_lease_seconds: int = 15
    catchup_interval_seconds: int = 30
    log_level: str = "INFO"
    log_format: str = "text"
    prometheus_multiproc_dir: str = ""
    worker_metrics: bool = True
    scheduler_health_port: int = 0
    scheduler_health_host: str = "127.0.0.1"
    worker_metrics_host: str = "127.0.0.1"
    password_scrypt_n: int = 2**17
    allowed_origins: tuple[str, ...] = ()
    max_reply_depth: int = 6
    edit_window_seconds: int = 900
    smtp_url: str = ""
    mail_from: str = "parley@localhost"
    public_base_url: str = ""
    moderator_digest_minutes: int = 15
    smtp_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 5.0
    webhook_allow_private: bool = False
    #: How long a worker holds an outbox row it is sending; longer than any send (a killed worker's row waits this).
    outbox_lease_seconds: int = 120
    signals_policy: str = "before_publish"
    offensive_model: bool = True
    model_threshold: float = 0.8
    links_max: int = 2
    new_author_links_max: int = 1
    duplicate_max: int = 2
    duplicate_window_minutes: int = 60
    burst_max: int = 5
    burst_window_seconds: int = 120
    trusted_after_approved: int = 3
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def mail_enabled(self) -> bool:
        """Tell whether Parley sends mail (SMTP_URL set)."""
        return bool(self.smtp_url)

    @property
    def is_production(self) -> bool:
        """Tell whether this is a production deployment."""
        return self.env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from *env* (default: ``os.environ``); raise ConfigError on bad values."""
        env = os.environ if env is None else env
        deploy = choice(env, "PARLEY_ENV", "development", ("development", "production", "test"))
        secret = env.get("SECRET_KEY", "")
        if deploy == "production" and (secret in WEAK_SECRETS or len(secret) < 16):
            raise ConfigError("PARLEY_ENV=production needs SECRET_KEY set to a random value of 16+ characters")
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            database_prepared=choice(env, "DATABASE_PREPARED", "on", ("on", "off")) == "on",
            broker_url=",".join(broker_nodes(env.get("BROKER_URL", "").strip() or DEFAULT_BROKER_URL)),
            broker_queue_type=choice(env, "BROKER_QUEUE_TYPE", "classic", QUEUE_TYPES),
            secret_key=secret or "dev",
            env=deploy,
            translation_provider=choice(env, "TRANSLATION_PROVIDER", "google", PROVIDERS),
            translation_url=env.get("TRANSLATION_URL", "").strip(),
            translation_api_key=env.get("TRANSLATION_API_KEY", ""),
            translation_targets=targets(env),
            translation_timeout_seconds=number(env, "TRANSLATION_TIMEOUT_SECONDS", 10.0),
            translation_max_attempts=integer(env, "TRANSLATION_MAX_ATTEMPTS", 5, minimum=1),
            check_max_attempts=integer(env, "CHECK_MAX_ATTEMPTS", 5, minimum=1),
            check_linger_ms=integer(env, "CHECK_LINGER_MS", 5),
            classify_linger_ms=integer(env, "CLASSIFY_LINGER_MS", 50),
            moderation_policy=choice(env, "MODERATION_POLICY", "hold", POLICIES),
            max_comment_chars=integer(env, "MAX_COMMENT_CHARS", 5000, minimum=1),
            max_request_bytes=integer(env, "MAX_REQUEST_BYTES", 64 * 1024, minimum=1024),
            publish_timeout_seconds=number(env, "PUBLISH_TIMEOUT_SECONDS", 1.5),
            rate_limit_per_minute=integer(env, "RATE_LIMIT_PER_MINUTE", 30),
            proxy_hops=integer(env, "PROXY_HOPS", 0),
            trusted_proxies=trusted_proxies(env),
            metrics_token=env.get("METRICS_TOKEN", "").strip(),
            stuck_after_seconds=integer(env, "STUCK_AFTER_SECONDS", 300, minimum=1),
            redispatch_max_attempts=integer(env, "REDISPATCH_MAX_ATTEMPTS", 5, minimum=1),
            retention_rejected_days=integer(env, "RETENTION_REJECTED_DAYS", 30, minimum=0),
            redispatch_interval_seconds=integer(env, "REDISPATCH_INTERVAL_SECONDS", 60, minimum=1),
            purge_cron=cron(env, "PURGE_CRON", "30 3 * * *"),
            daily_stats_cron=cron(env, "DAILY_STATS_CRON", "15 0 * * *"),
            scheduler_lease_seconds=integer(env, "SCHEDULER_LEASE_SECONDS", 15, minimum=3),
            catchup_interval_seconds=integer(env, "CATCHUP_INTERVAL_SECONDS", 30, minimum=1),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
            log_format=choice(env, "LOG_FORMAT", "text", ("text", "json")),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
            worker_metrics=env.get("WORKER_METRICS", "1").strip().lower() not in ("0", "false", "no", "off"),
            scheduler_health_port=integer(env, "SCHEDULER_HEALTH_PORT", 9192),
            scheduler_health_host=env.get("SCHEDULER_HEALTH_HOST", "").strip() or "127.0.0.1",
            # Dramatiq's own variable (its default is 0.0.0.0); Parley's worker binds loopback unless it is set.
            worker_metrics_host=env.get("dramatiq_prom_host", "").strip() or "127.0.0.1",
            password_scrypt_n=power_of_two(env, "PASSWORD_SCRYPT_N", 2**17, 2**14, 2**20),
            allowed_origins=origins(env, "ALLOWED_ORIGINS"),
            max_reply_depth=integer(env, "MAX_REPLY_DEPTH", 6, minimum=1),
            edit_window_seconds=integer(env, "EDIT_WINDOW_SECONDS", 900),
            **_mail(env),
            **_webhooks(env),
            **_signals(env),
            outbox_lease_seconds=integer(env, "OUTBOX_LEASE_SECONDS", 120, minimum=1),
            extra={k: v for k, v in env.items() if k.startswith("PARLEY_")},
        )
