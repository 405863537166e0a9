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


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


_CHECK = "message_status IN ('approved', 'hidden', 'none', 'waiting')"


def upgrade():
    # SQLite adds the column with its CHECK in place (ALTER TABLE ... ADD COLUMN): rebuilding
    # ``donations`` would drop a table the ledger's and receipts' foreign keys point at, which
    # fails once there are gifts
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE donations ADD COLUMN message_status VARCHAR(8) NOT NULL"
                   f" DEFAULT 'none' CONSTRAINT ck_donations_message_status CHECK ({_CHECK})")
    else:
        op.add_column('donations', sa.Column('message_status', sa.String(length=8),
                                             nullable=False, server_default='none'))
        op.create_check_constraint(op.f('ck_donations_message_status'), 'donations', _CHECK)
    op.execute("UPDATE donations SET message_status = 'approved' WHERE message <> ''")
    op.create_index('ix_donations_message_status_settled', 'donations',
                    ['message_status', 'settled_at'], unique=False)


def downgrade():
    op.drop_index('ix_donations_message_status_settled', table_name='donations')
    if op.get_bind().dialect.name == 'sqlite':
        # the column's own CHECK goes with it (ALTER TABLE ... DROP COLUMN, no rebuild)
        op.execute("ALTER TABLE donations DROP COLUMN message_status")
    else:
        op.drop_constraint(op.f('ck_donations_message_status'), 'donations', type_='check')
        op.drop_column('donations', 'message_status')
