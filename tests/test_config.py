"""Settings come from the environment, with the contract's defaults and clear errors."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import ConfigError


def test_defaults_match_the_contract():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///instance/parley.db"
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.env == "development" and settings.translation_provider == "google"
    assert settings.translation_targets == ("en",) and settings.translation_timeout_seconds == 10
    assert settings.moderation_policy == "hold" and settings.max_comment_chars == 5000
    assert settings.stuck_after_seconds == 300 and settings.retention_rejected_days == 30
    assert settings.database_prepared is True  # direct PostgreSQL's speed; off behind a transaction pooler


def test_values_are_read_and_normalised():
    settings = Settings.from_env({"TRANSLATION_TARGETS": " EN, de ,en", "TRANSLATION_PROVIDER": "Libre",
                                  "MAX_COMMENT_CHARS": "100", "MODERATION_POLICY": "censor"})
    assert settings.translation_targets == ("en", "de") and settings.translation_provider == "libre"
    assert settings.max_comment_chars == 100 and settings.moderation_policy == "censor"
    assert Settings.from_env({"DATABASE_PREPARED": " OFF"}).database_prepared is False


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PARLEY_ENV": "production"}, "SECRET_KEY"),
        ({"PARLEY_ENV": "production", "SECRET_KEY": "changeme"}, "SECRET_KEY"),
        ({"TRANSLATION_PROVIDER": "babelfish"}, "TRANSLATION_PROVIDER"),
        ({"TRANSLATION_TARGETS": "en,xx"}, "TRANSLATION_TARGETS"),
        ({"MAX_COMMENT_CHARS": "lots"}, "MAX_COMMENT_CHARS"),
        ({"MAX_COMMENT_CHARS": "0"}, "MAX_COMMENT_CHARS"),
        ({"TRANSLATION_TIMEOUT_SECONDS": "-1"}, "TRANSLATION_TIMEOUT_SECONDS"),
        ({"MODERATION_POLICY": "delete"}, "MODERATION_POLICY"),
        ({"DATABASE_PREPARED": "auto"}, "DATABASE_PREPARED"),
    ],
)
def test_bad_values_fail_fast_with_the_setting_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_production_accepts_a_real_secret():
    settings = Settings.from_env({"PARLEY_ENV": "production", "SECRET_KEY": "x" * 32})
    assert settings.is_production and settings.secret_key == "x" * 32
