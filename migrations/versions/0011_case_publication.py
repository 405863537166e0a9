"""Publication is its own recorded fact: who published a case and when, and when staff
pulled it back. Existing cases are decided from their audit history of transitions.

Until now a case counted as public whenever its status was anything but "requested", so a
private request that was closed or put on hold became public. From here on a case is public
only while ``published_at`` is set. For the rows already there: a case whose audit history
shows a move to fundraising or legal action (the step that opens an appeal or a legal fight,
staff's decision to go public) is published at that moment, by that actor; any other case is
private, and the migration prints which ones those are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00

"""
import contextlib
import json

from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

#: moving into these published a case (tracker.cases.workflow.PUBLISHING_STATUSES)
PUBLISHING = ("fundraising", "legal_action")


@contextlib.contextmanager
def _rebuilding_rescue_cases():
    """SQLite rebuilds ``rescue_cases`` to add a constraint; with foreign keys on, dropping the
    old table would cascade to its people and trip every RESTRICT. SQLite ignores the pragma
    inside a transaction, so end the migration's transaction, rebuild with them off, check
    every reference, and turn them on again (the SQLite manual's procedure)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    raw = bind.connection.dbapi_connection
    if raw.in_transaction:
        raw.commit()
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        yield
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild: {problems}")
        if raw.in_transaction:
            raw.commit()
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _decide_existing_cases() -> list[str]:
    """Set published_at / published_by_id from the audit history; return the private slugs."""
    bind = op.get_bind()
    cases = sa.table('rescue_cases', sa.column('id', sa.Integer), sa.column('slug', sa.String),
                     sa.column('published_at', tracker.core.types.UTCDateTime()),
                     sa.column('published_by_id', sa.Integer))
    audit = sa.table('audit_entries', sa.column('id', sa.Integer), sa.column('case_id', sa.Integer),
                     sa.column('object_type', sa.String), sa.column('object_id', sa.Integer),
                     sa.column('action', sa.String), sa.column('after', sa.Text),
                     sa.column('actor_id', sa.Integer),
                     sa.column('created_at', tracker.core.types.UTCDateTime()))
    users = {row[0] for row in bind.execute(sa.text("SELECT id FROM users"))}
    first: dict[int, tuple] = {}
    rows = bind.execute(
        sa.select(audit.c.object_id, audit.c.case_id, audit.c.after, audit.c.actor_id,
                  audit.c.created_at)
        .where(audit.c.action.in_(("case.status", "case.published")),
               audit.c.object_type == 'rescue_cases')
        .order_by(audit.c.created_at, audit.c.id)
    )
    for object_id, case_id, after, actor_id, created_at in rows:
        if isinstance(after, str):
            after = json.loads(after)
        status = (after or {}).get("status")
        case = object_id or case_id
        if case is None or case in first:
            continue
        if status in PUBLISHING or "published_at" in (after or {}):
            first[case] = (created_at, actor_id if actor_id in users else None)
    private = []
    for case_id, slug in bind.execute(sa.select(cases.c.id, cases.c.slug).order_by(cases.c.id)):
        when, actor = first.get(case_id, (None, None))
        bind.execute(cases.update().where(cases.c.id == case_id)
                     .values(published_at=when, published_by_id=actor))
        if when is None:
            private.append(slug)
    return private


def upgrade():
    with _rebuilding_rescue_cases():
        with op.batch_alter_table('rescue_cases', schema=None) as batch_op:
            batch_op.add_column(sa.Column('published_by_id', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('unpublished_at', tracker.core.types.UTCDateTime(),
                                          nullable=True))
            batch_op.create_foreign_key(batch_op.f('fk_rescue_cases_published_by_id_users'),
                                        'users', ['published_by_id'], ['id'], ondelete='SET NULL')
            batch_op.create_check_constraint(
                'published_by_only_when_published',
                'published_at IS NOT NULL OR published_by_id IS NULL')
    private = _decide_existing_cases()
    if private:
        print(f"0011: {len(private)} case(s) stay private (their audit history shows no "
              "publication): " + ", ".join(private))
    else:
        print("0011: every existing case's audit history shows its publication")


def downgrade():
    with _rebuilding_rescue_cases():
        with op.batch_alter_table('rescue_cases', schema=None) as batch_op:
            batch_op.drop_constraint('published_by_only_when_published', type_='check')
            batch_op.drop_constraint(batch_op.f('fk_rescue_cases_published_by_id_users'),
                                     type_='foreignkey')
            batch_op.drop_column('unpublished_at')
            batch_op.drop_column('published_by_id')
