"""Migration 0025: a photo with no decision (the face check found no face, "clear") is no longer
public: it becomes "unreviewed" until staff look at it; photos with a decision keep it. Down to
0024 and up again works on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.core.test_migrations import fresh_database
from tracker.extensions import db

T1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BEFORE = {"t-clear": "clear", "t-held": "held", "t-blurred": "blurred", "t-consented": "consented"}


def _statuses(conn) -> dict[str, str]:
    return dict(conn.execute(sa.text("SELECT token, face_status FROM post_images")).all())


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_undecided_photos_become_unreviewed_and_decided_ones_keep_their_decision(
        backend_name: str, tmp_path: Path) -> None:
    with fresh_database(backend_name, tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            try:
                flask_migrate.upgrade(revision="0024")
                with db.engine.begin() as conn:
                    for token, status in BEFORE.items():
                        conn.execute(sa.text(
                            "INSERT INTO post_images (token, content_type, width, height, "
                            "byte_size, alt_text, data, created_at, face_status) VALUES "
                            "(:token, 'image/jpeg', 10, 10, 3, 'x', :data, :at, :status)"),
                            {"token": token, "data": b"abc", "at": T1, "status": status})

                flask_migrate.upgrade(revision="0025")
                with db.engine.connect() as conn:
                    assert _statuses(conn) == {"t-clear": "unreviewed", "t-held": "held",
                                               "t-blurred": "blurred", "t-consented": "consented"}
                # the new default is "unreviewed", and "clear" is no longer a status
                with db.engine.begin() as conn:
                    conn.execute(sa.text(
                        "INSERT INTO post_images (token, content_type, width, height, byte_size, "
                        "alt_text, data, created_at) VALUES ('t-new', 'image/jpeg', 1, 1, 3, 'x', "
                        ":data, :at)"), {"data": b"abc", "at": T1})
                    assert _statuses(conn)["t-new"] == "unreviewed"
                with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
                    conn.execute(sa.text(
                        "UPDATE post_images SET face_status = 'clear' WHERE token = 't-new'"))
                with db.engine.begin() as conn:
                    conn.execute(sa.text(
                        "UPDATE post_images SET face_status = 'no_person' WHERE token = 't-new'"))

                flask_migrate.downgrade(revision="0024")
                with db.engine.connect() as conn:
                    statuses = _statuses(conn)
                assert statuses["t-clear"] == "clear" and statuses["t-new"] == "clear"
                assert statuses["t-held"] == "held"
                flask_migrate.upgrade(revision="0025")
                with db.engine.connect() as conn:
                    assert _statuses(conn)["t-clear"] == "unreviewed"
            finally:
                db.session.remove()
                db.engine.dispose()
