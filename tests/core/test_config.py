"""Settings: embedded defaults, clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tracker import ConfigError, create_app

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "TRACKER_BASE_CURRENCY", "TRACKER_TIMEZONE", "STRIPE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True})
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["DATABASE_URL"].endswith("instance/tracker.sqlite3")
    assert app.config["TRACKER_BASE_CURRENCY"] == "JPY"
    assert app.config["TRACKER_TIMEZONE"] == "Asia/Tokyo"
    assert app.config["TRACKER_FISCAL_YEAR_START_MONTH"] == 9
    assert app.config["TRACKER_EXCHANGE_RATES"]["USD"] == Decimal(150)
    assert app.config["STRIPE_SECRET_KEY"] is None


def test_refuses_to_start_without_secret_key_outside_debug_and_testing(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()
    assert create_app({"DEBUG": True}).config["SECRET_KEY"]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("TRACKER_BASE_CURRENCY", "XYZ", "TRACKER_BASE_CURRENCY"),
        ("TRACKER_TIMEZONE", "Mars/Olympus", "TRACKER_TIMEZONE"),
        ("TRACKER_FISCAL_YEAR_START_MONTH", 13, "TRACKER_FISCAL_YEAR_START_MONTH"),
        ("TRACKER_EXCHANGE_RATES", "USD=abc", "TRACKER_EXCHANGE_RATES"),
        ("TRACKER_EXCHANGE_RATES", "USD=-1", "must be positive"),
        ("STRIPE_SECRET_KEY", "sk_live_abc", "live key"),
    ],
)
def test_malformed_settings_are_named(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"TESTING": True, setting: value})


def test_postgres_urls_use_psycopg3():
    app = create_app({"TESTING": True, "DATABASE_URL": "postgres://u@h/db"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_cli_exits_non_zero_with_the_message_when_a_setting_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FLASK_DEBUG"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tracker", "seed-demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout


def test_failed_statements_never_carry_their_values_into_errors_or_logs(app):
    """A private field in a failing INSERT must not reach the exception text (and so logs)."""
    import sqlalchemy as sa

    from tracker.extensions import db

    marker = "PRIVATE-NAME-IN-A-FAILED-INSERT"
    with pytest.raises(sa.exc.IntegrityError) as info:
        db.session.execute(
            sa.text("INSERT INTO beneficiaries (case_id, position, public_alias, age_band, status,"
                    " private_name, private_details, private_rescue_note, created_at)"
                    " VALUES (999999, 1, 'A.', '0-4', 'waiting', :name, '', '', :now)"),
            {"name": marker, "now": "2026-01-01 00:00:00"},
        )
    db.session.rollback()
    assert marker not in str(info.value)
