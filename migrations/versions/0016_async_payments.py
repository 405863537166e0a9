"""Japanese ways to pay that finish later (convenience store, bank transfer): a gift
remembers which one it waits for, and the sandbox's sessions keep the voucher they issued

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 16:45:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('donations') as batch:
        batch.add_column(sa.Column('awaiting_method', sa.String(length=24), nullable=True))
    with op.batch_alter_table('sandbox_sessions') as batch:
        batch.add_column(sa.Column('payment_method', sa.String(length=24), nullable=True))
        batch.add_column(sa.Column('voucher_number', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('voucher_expires_at', tracker.core.types.UTCDateTime(),
                                   nullable=True))


def downgrade():
    with op.batch_alter_table('sandbox_sessions') as batch:
        batch.drop_column('voucher_expires_at')
        batch.drop_column('voucher_number')
        batch.drop_column('payment_method')
    with op.batch_alter_table('donations') as batch:
        batch.drop_column('awaiting_method')
