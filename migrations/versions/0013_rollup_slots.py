"""Rollup slots: one case's gifts no longer queue for one row

Every gift to a case in a month used to add itself to the same ``ledger_month_totals`` row
(and every gift of one amount to the same ``gift_amount_months`` row), which PostgreSQL keeps
locked until the gift's transaction commits: concurrent gifts to one case waited for each
other, which is exactly the load of a viral appeal. Each group now has up to 16 rows ("slots");
an entry adds itself to slot ``id % 16`` and readers sum over the slots (they always summed).

Public pages stop summing a case's ledger entries (a viral case has as many as it has gifts):
``case_totals`` keeps all of a case's ledger per kind (in slots too), ``case_donors`` which
donors gave to which case and ``case_donor_counts`` how many (in slots by donor), all kept by
the same triggers.

These tables are derived data: they are made again and refilled from the ledger.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types

from tracker.ledger import rollups


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def _start_month():
    try:
        from flask import current_app

        return current_app.config["TRACKER_FISCAL_YEAR_START_MONTH"]
    except RuntimeError:  # outside an app: the embedded default
        return 9


def _make_tables(slots):
    def slot():  # a column belongs to one table: a new one for each
        return [sa.Column('slot', sa.SmallInteger(), nullable=False)] if slots else []

    slot_key = ['slot'] if slots else []
    op.create_table('gift_amount_months',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        *slot(),
        sa.Column('gifts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'amount_minor', *slot_key,
                                name=op.f('pk_gift_amount_months')))
    op.create_table('ledger_month_totals',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('case_key', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('original_currency', sa.String(length=3), nullable=False),
        *slot(),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('original_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'case_key', 'kind', 'channel', 'currency',
                                'original_currency', *slot_key,
                                name=op.f('pk_ledger_month_totals')))


def _case_tables():
    op.create_table('case_totals',
        sa.Column('case_key', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('last_created_at', tracker.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('case_key', 'kind', 'slot', name=op.f('pk_case_totals')))
    op.create_table('case_donors',
        sa.Column('case_key', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('case_key', 'donor_id', name=op.f('pk_case_donors')))
    op.create_table('case_donor_counts',
        sa.Column('case_key', sa.Integer(), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('donors', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('case_key', 'slot', name=op.f('pk_case_donor_counts')))


def _remake(slots):
    dialect = op.get_bind().dialect.name
    rollups.drop_triggers(op.execute, dialect)
    op.drop_table('ledger_month_totals')
    op.drop_table('gift_amount_months')
    _make_tables(slots)
    if slots:
        _case_tables()
    else:
        for table in ('case_donor_counts', 'case_donors', 'case_totals'):
            op.drop_table(table)
    start_month = _start_month()
    rollups.rebuild(op.execute, dialect, start_month, slots=slots)
    rollups.create_triggers(op.execute, dialect, start_month, slots=slots)


def upgrade():
    _remake(slots=True)


def downgrade():
    _remake(slots=False)
