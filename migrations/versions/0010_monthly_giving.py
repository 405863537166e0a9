"""Monthly giving: recurring gifts, each paid invoice one donation; the sandbox's
subscriptions and its clock

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00

"""
import contextlib

from alembic import op
import sqlalchemy as sa

import tracker.core.types
from tracker.ledger import rollups


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


@contextlib.contextmanager
def _donations_batch():
    """Alter ``donations``. SQLite rebuilds the table to add a constraint, which its ledger
    rollup triggers (they read donations) refuse: they are dropped first and made again after."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        rollups.drop_triggers(op.execute, dialect)
    with op.batch_alter_table('donations', schema=None) as batch_op:
        yield batch_op
    if dialect == "sqlite":
        rollups.create_triggers(op.execute, dialect, slots=False)  # the tables as they were then


def upgrade():
    op.create_table(
        'recurring_gifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=40), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('gateway', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('gateway_checkout_id', sa.String(length=255), nullable=True),
        sa.Column('gateway_subscription_id', sa.String(length=255), nullable=True),
        sa.Column('gateway_customer_id', sa.String(length=255), nullable=True),
        sa.Column('locale', sa.String(length=2), nullable=True),
        sa.Column('display_name', sa.String(length=80), nullable=False),
        sa.Column('show_on_wall', sa.Boolean(), nullable=False),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('started_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('canceled_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('current_period_end', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_recurring_gifts_amount_positive')),
        sa.CheckConstraint("currency IN ('JPY', 'USD')", name=op.f('ck_recurring_gifts_currency')),
        sa.CheckConstraint("gateway IN ('sandbox', 'stripe')", name=op.f('ck_recurring_gifts_gateway')),
        sa.CheckConstraint("status IN ('active', 'canceled', 'incomplete', 'past_due')",
                           name=op.f('ck_recurring_gifts_status')),
        sa.CheckConstraint('failed_attempts >= 0',
                           name=op.f('ck_recurring_gifts_failed_attempts_nonnegative')),
        sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'],
                                name=op.f('fk_recurring_gifts_case_id_rescue_cases'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'],
                                name=op.f('fk_recurring_gifts_donor_id_donors'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_gifts')),
        sa.UniqueConstraint('public_id', name=op.f('uq_recurring_gifts_public_id')),
        sa.UniqueConstraint('gateway_checkout_id', name=op.f('uq_recurring_gifts_gateway_checkout_id')),
        sa.UniqueConstraint('gateway_subscription_id',
                            name=op.f('uq_recurring_gifts_gateway_subscription_id')),
    )
    with op.batch_alter_table('recurring_gifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recurring_gifts_donor_id'), ['donor_id'], unique=False)

    op.create_table(
        'sandbox_subscriptions',
        sa.Column('id', sa.String(length=80), nullable=False),
        sa.Column('checkout_session_id', sa.String(length=80), nullable=False),
        sa.Column('recurring_gift_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.String(length=80), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('card_declines', sa.Boolean(), nullable=False),
        sa.Column('anchor_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('periods', sa.Integer(), nullable=False),
        sa.Column('open_invoice_id', sa.String(length=80), nullable=True),
        sa.Column('attempt_count', sa.Integer(), nullable=False),
        sa.Column('success_url', sa.String(length=500), nullable=False),
        sa.Column('cancel_url', sa.String(length=500), nullable=False),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('canceled_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'canceled', 'incomplete', 'past_due')",
                           name=op.f('ck_sandbox_subscriptions_status')),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_sandbox_subscriptions_amount_positive')),
        sa.CheckConstraint('periods >= 0 AND attempt_count >= 0',
                           name=op.f('ck_sandbox_subscriptions_counts_nonnegative')),
        sa.ForeignKeyConstraint(['recurring_gift_id'], ['recurring_gifts.id'],
                                name=op.f('fk_sandbox_subscriptions_recurring_gift_id_recurring_gifts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_subscriptions')),
        sa.UniqueConstraint('checkout_session_id',
                            name=op.f('uq_sandbox_subscriptions_checkout_session_id')),
        sa.UniqueConstraint('recurring_gift_id', name=op.f('uq_sandbox_subscriptions_recurring_gift_id')),
    )
    op.create_table(
        'sandbox_clock',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('offset_seconds', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_clock')),
    )
    with _donations_batch() as batch_op:
        batch_op.add_column(sa.Column('recurring_gift_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('gateway_invoice_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_donations_recurring_gift_id'), ['recurring_gift_id'],
                              unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_donations_gateway_invoice_id'),
                                          ['gateway_invoice_id'])
        batch_op.create_foreign_key(batch_op.f('fk_donations_recurring_gift_id_recurring_gifts'),
                                    'recurring_gifts', ['recurring_gift_id'], ['id'],
                                    ondelete='RESTRICT')


def downgrade():
    with _donations_batch() as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_donations_recurring_gift_id_recurring_gifts'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_donations_gateway_invoice_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_donations_recurring_gift_id'))
        batch_op.drop_column('gateway_invoice_id')
        batch_op.drop_column('recurring_gift_id')
    op.drop_table('sandbox_clock')
    op.drop_table('sandbox_subscriptions')
    with op.batch_alter_table('recurring_gifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recurring_gifts_donor_id'))
    op.drop_table('recurring_gifts')
