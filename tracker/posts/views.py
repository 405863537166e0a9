"""Public post pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from tracker.cases.workflow import PUBLIC_STATUSES
from tracker.core.access import public
from tracker.posts import services

bp = Blueprint("posts", __name__)


@bp.route("/posts/<slug>")
@public
def show(slug: str):
    """A published post (or one whose embargo has passed), with its public cases."""
    post = services.get_visible_post(slug)
    if post is None:
        abort(404)
    cases = [c for c in post.cases if c.status in PUBLIC_STATUSES]
    return render_template("posts/show.html", post=post, cases=cases)
