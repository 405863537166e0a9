"""A donor's wall message waits for staff before the public sees it: ``donations.message_status``
(none, waiting, approved, hidden). The display name a donor chose is still shown at once.

Existing gifts: a non-empty message becomes "approved". Those messages have already been on
public walls; hiding them now would undo nothing, and staff can still hide any of them from
the review page. Gifts without a message are "none". Going down drops the column (every
message is then shown again, as before).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 12:00:00

"""
from alembic import op
import sqlalchemy as sa

from tracker.ledger import rollups


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def _rebuilding_donations(change):
    """SQLite rebuilds ``donations`` to change its CHECKs, and the ledger's rollup triggers
    read that table: they are dropped first and made again after (PostgreSQL alters in place)."""
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        rollups.drop_triggers(op.execute, dialect)
    change()
    if dialect == 'sqlite':
        rollups.create_triggers(op.execute, dialect)


def upgrade():
    _rebuilding_donations(_upgrade)


def downgrade():
    _rebuilding_donations(_downgrade)


def _upgrade():
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_status', sa.String(length=8), nullable=False,
                                      server_default='none'))
    op.execute("UPDATE donations SET message_status = 'approved' WHERE message <> ''")
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'message_status', "message_status IN ('approved', 'hidden', 'none', 'waiting')")
        batch_op.create_index('ix_donations_message_status_settled',
                              ['message_status', 'settled_at'], unique=False)


def _downgrade():
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.drop_index('ix_donations_message_status_settled')
        batch_op.drop_constraint(op.f('ck_donations_message_status'), type_='check')
        batch_op.drop_column('message_status')
