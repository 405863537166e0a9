"""Indexes that keep public pages' cost flat as history grows, and queued webhook events

The donor wall (a case's newest succeeded gifts) sorted every succeeded gift of the case to
show twenty; it now walks an index in order and stops. And the worker finds the webhook events waiting for it (with
TRACKER_WEBHOOK_PROCESSING=queued) among all ever received by a partial index.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_donations_case_status_settled', 'donations',
                    ['case_id', 'status', 'settled_at'], unique=False)
    op.drop_index('ix_donations_case_status', table_name='donations')


    op.create_index('ix_payment_events_unapplied', 'payment_events', ['id'], unique=False,
                    postgresql_where=sa.text('processed_at IS NULL'),
                    sqlite_where=sa.text('processed_at IS NULL'))


def downgrade():
    op.drop_index('ix_payment_events_unapplied', table_name='payment_events')
    op.create_index('ix_donations_case_status', 'donations', ['case_id', 'status'], unique=False)
    op.drop_index('ix_donations_case_status_settled', table_name='donations')
