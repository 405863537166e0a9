"""The operations settings: read from the environment, refused with their name when wrong."""

from __future__ import annotations

import pytest

from tracker import ConfigError, config, create_app


def test_read_from_the_environment(tmp_path) -> None:  # noqa: ANN001
    settings = config.from_env({"TRACKER_METRICS_TOKEN": "t" * 32, "TRACKER_LOG_FORMAT": " JSON ",
                                "SENTRY_DSN": "https://k@o1.ingest.sentry.io/1"}, str(tmp_path))
    assert settings["TRACKER_METRICS_TOKEN"] == "t" * 32
    assert settings["TRACKER_LOG_FORMAT"] == "json"
    assert settings["SENTRY_DSN"] == "https://k@o1.ingest.sentry.io/1"
    empty = config.from_env({}, str(tmp_path))
    assert empty["TRACKER_METRICS_TOKEN"] is None and empty["SENTRY_DSN"] is None
    assert empty["TRACKER_LOG_FORMAT"] == "plain"


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("TRACKER_METRICS_TOKEN", "short", "TRACKER_METRICS_TOKEN must be at least 16"),
    ("TRACKER_METRICS_TOKEN", "sixteen chars but spaces", "TRACKER_METRICS_TOKEN"),
    ("TRACKER_LOG_FORMAT", "xml", "TRACKER_LOG_FORMAT must be plain or json"),
    ("SENTRY_DSN", "not a dsn", "SENTRY_DSN"),
])
def test_malformed_settings_are_named(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        create_app({"TESTING": True, setting: value})
    assert value not in str(refused.value)  # a token is never echoed back
