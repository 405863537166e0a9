"""Rescue Tracker: rescue cases, appeals and donations for a small humanitarian NGO."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from tracker import config as config_module
from tracker.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings from the environment, then ``config`` on top.

    Raises ConfigError with a clear message when a setting is missing or malformed.
    """
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    settings = config_module.from_env(os.environ, app.instance_path)
    settings.update(config or {})
    debug = bool(settings.get("DEBUG")) or app.debug
    app.config.update(config_module.finalize(settings, debug=debug))
    # Templates keep their indentation; the pages sent do not carry it.
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    os.makedirs(app.instance_path, exist_ok=True)

    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_webhook_handlers()
    register_rate_limits(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    register_operations(app)
    return app


def register_operations(app: Flask) -> None:
    """``/readyz``, ``/metrics``, ``X-Request-ID``, JSON logs and error reports (``tracker.ops``);
    last, so that its middleware wraps everything else."""
    from tracker import ops

    ops.init_app(app)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions and the access rules to ``app``."""
    from tracker import models  # noqa: F401  (every model registered before migrations look)
    from tracker.accounts import auth
    from tracker.core import access, database, i18n, labels, query, transactions
    from tracker.extensions import csrf, db, login_manager, migrate
    from tracker.mail import outbox
    from tracker.web import pagecache, security, staticfiles, unavailable

    db.init_app(app)
    database.init_app(app)
    unavailable.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)
    query.init_app(app)  # before the access rules: a bad link is a 400 for everybody
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    auth.init_app(app)
    access.init_app(app)
    security.init_app(app)
    staticfiles.init_app(app)  # ?v=<hash> on static files' addresses
    outbox.init_app(app)
    transactions.init_app(app)  # after db and outbox: see its docstring
    pagecache.init_app(app)


def register_webhook_handlers() -> None:
    """The domains that give the gateway's events their meaning register their handlers with
    ``tracker.payments.webhooks`` when imported (gifts, then monthly gifts)."""
    import tracker.donations.recording
    import tracker.monthly.services  # noqa: F401


def register_rate_limits(app: Flask) -> None:
    """Limits on the sign-in and checkout views (so after the blueprints) and lockouts."""
    from tracker.accounts import lockout
    from tracker.core import ratelimit

    ratelimit.init_app(app)
    lockout.init_app(app)


def register_url_converters(app: Flask) -> None:
    """URL parts a database can hold, so anything else is a 404 rather than a database error:
    ``<int:...>`` stops at 2**31 - 1 (PostgreSQL's INTEGER), and a text part (``<slug>``,
    ``<public_id>``...) never matches a NUL or another control character (PostgreSQL refuses
    a NUL in text)."""
    from werkzeug.routing import IntegerConverter, UnicodeConverter

    class DatabaseInteger(IntegerConverter):
        def __init__(self, url_map, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    class DatabaseText(UnicodeConverter):
        def __init__(self, url_map, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
            super().__init__(url_map, *args, **kwargs)
            self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")

    app.url_map.converters["int"] = DatabaseInteger
    app.url_map.converters["default"] = app.url_map.converters["string"] = DatabaseText


def register_blueprints(app: Flask) -> None:
    """Attach every domain's blueprint."""
    from tracker.accounts.views import bp as accounts_bp
    from tracker.budgets.views import bp as budgets_bp
    from tracker.donations.message_views import staff_messages_bp
    from tracker.donations.pledge_views import staff_pledges_bp
    from tracker.donations.staff_views import staff_gifts_bp, staff_presets_bp
    from tracker.donors.staff_views import staff_donors_bp
    from tracker.donors.views import bp as donors_bp
    from tracker.monthly.views import staff_recurring_bp
    from tracker.payments.views import bp as payments_bp
    from tracker.posts.views import bp as posts_bp
    from tracker.reports.views import bp as reports_bp
    from tracker.site.audit import bp as audit_bp
    from tracker.site.cases import bp as cases_bp
    from tracker.site.cases import staff_bp
    from tracker.site.feed import bp as feed_bp
    from tracker.site.follow import bp as follow_bp
    from tracker.site.give import bp as donations_bp
    from tracker.site.organization import bp as organization_bp
    from tracker.web.views import bp as core_bp

    for bp in (core_bp, accounts_bp, cases_bp, staff_bp, posts_bp, donations_bp, payments_bp,
               audit_bp, staff_gifts_bp, staff_donors_bp, budgets_bp, reports_bp, donors_bp,
               staff_recurring_bp, organization_bp, follow_bp, feed_bp, staff_presets_bp,
               staff_pledges_bp, staff_messages_bp):
        app.register_blueprint(bp)
    register_sandbox(app)


def register_sandbox(app: Flask) -> None:
    """The offline sandbox gateway (used when no Stripe key is set): its registration with
    the payments gateway registry, its checkout page and its ``flask sandbox`` commands."""
    from tracker import sandbox

    sandbox.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    """Friendly 4xx/5xx pages (JSON for JSON routes); the 500 handler rolls back."""
    from tracker.web.views import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """Add the CLI groups: seed-demo, users, stripe, outbox, reports and backup (the
    sandbox's own group comes with it: ``register_sandbox``)."""
    from tracker.accounts.cli import users_cli
    from tracker.backup import backup_cli
    from tracker.demo.cli import seed_demo
    from tracker.donations.cli import stripe_cli
    from tracker.mail.cli import outbox_cli
    from tracker.reports.cli import reports_cli
    from tracker.worker.cli import worker_cli

    for command in (users_cli, seed_demo, stripe_cli, outbox_cli, reports_cli, backup_cli,
                    worker_cli):
        app.cli.add_command(command)


def register_template_helpers(app: Flask) -> None:
    """Filters and globals the templates share (money formatting, status labels)."""
    from tracker.cases import workflow
    from tracker.cases.models import PERSON_LABELS
    from tracker.web.templating import init_app

    init_app(app)
    # the names of case and person statuses, in the reader's language (lazy strings)
    app.jinja_env.globals.update(CASE_STATUS_LABELS=workflow.LABELS, PERSON_STATUS_LABELS=PERSON_LABELS)
