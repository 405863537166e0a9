"""The offline sandbox gateway ("TEST MODE — no money moves"), standing apart from payments.

It implements ``tracker.payments.gateway.Gateway`` the way Stripe does: its own tables
(``models``), its own hosted checkout page (``views``), its own clock and test cards
(``flask sandbox ...``, ``cli``), and events delivered by itself through the same webhook
code as Stripe's (``gateway``). ``tracker.payments`` never imports this package: the app
factory calls ``init_app``, which registers the sandbox as the gateway used when no Stripe
key is set.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the sandbox gateway, its checkout page and its CLI group with ``app``."""
    from tracker.payments.gateway import register_gateway
    from tracker.sandbox.cli import sandbox_cli
    from tracker.sandbox.gateway import SandboxGateway
    from tracker.sandbox.views import bp

    register_gateway(app, "sandbox", lambda _app: SandboxGateway())
    app.register_blueprint(bp)
    app.cli.add_command(sandbox_cli)
