"""The donate form rebuilt: "cover the card fee" (a gift's fee cover, its own ledger kind
``fee_cover``), what each preset amount of a case pays for, and the case's title and the fee
cover on the sandbox's checkout page

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa

from tracker.ledger import rollups
from tracker.ledger.guard import create_ledger_guard, drop_ledger_guard


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


_OLD_KINDS = ("'adjustment', 'disbursement', 'dispute', 'dispute_reversal', 'fee', 'gift', 'refund',"
              " 'transfer'")
_NEW_KINDS = ("'adjustment', 'disbursement', 'dispute', 'dispute_reversal', 'fee', 'fee_cover',"
              " 'gift', 'refund', 'transfer'")
_SIGN_CHECK = (
    "(kind IN ('gift', 'dispute_reversal') AND amount_minor > 0)"
    " OR (kind IN ('refund', 'dispute', 'fee') AND amount_minor < 0)"
    " OR kind IN ('transfer', 'adjustment', 'disbursement'%s)"
)
_DONATION_CHECK = ("kind NOT IN ('gift', 'refund', 'dispute', 'dispute_reversal', 'fee'%s)"
                   " OR donation_id IS NOT NULL")


def _ledger_checks(kinds, extra):
    """Remake the ledger's kind CHECKs. SQLite rebuilds the table to change them and the
    table's triggers (append-only guard, rollups) go with the old one: they are dropped first
    and made again after, on both databases alike."""
    dialect = op.get_bind().dialect.name
    drop_ledger_guard(op)
    rollups.drop_triggers(op.execute, dialect)
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint('kind', type_='check')
        batch_op.drop_constraint('amount_sign', type_='check')
        batch_op.drop_constraint('donation_money_has_donation', type_='check')
        batch_op.create_check_constraint('kind', "kind IN (%s)" % kinds)
        batch_op.create_check_constraint('amount_sign', _SIGN_CHECK % extra)
        batch_op.create_check_constraint('donation_money_has_donation', _DONATION_CHECK % extra)
    create_ledger_guard(op)
    rollups.create_triggers(op.execute, dialect)


def upgrade():
    _ledger_checks(_NEW_KINDS, ", 'fee_cover'")
    op.add_column('donations', sa.Column('fee_cover_minor', sa.BigInteger(), nullable=False,
                                         server_default='0'))
    op.add_column('sandbox_sessions', sa.Column('description', sa.String(length=200), nullable=True))
    op.add_column('sandbox_sessions', sa.Column('fee_cover_minor', sa.BigInteger(), nullable=False,
                                                server_default='0'))
    op.add_column('sandbox_subscriptions', sa.Column('description', sa.String(length=200),
                                                     nullable=True))
    op.create_table(
        'preset_notes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('text_en', sa.String(length=120), nullable=False),
        sa.Column('text_ja', sa.String(length=120), nullable=False),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_preset_notes_amount_positive')),
        sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'],
                                name=op.f('fk_preset_notes_case_id_rescue_cases'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_preset_notes')),
        sa.UniqueConstraint('case_id', 'currency', 'amount_minor',
                            name=op.f('uq_preset_notes_case_id')),
    )


def downgrade():
    op.drop_table('preset_notes')
    with op.batch_alter_table('sandbox_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('description')
    with op.batch_alter_table('sandbox_sessions', schema=None) as batch_op:
        batch_op.drop_column('fee_cover_minor')
        batch_op.drop_column('description')
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        rollups.drop_triggers(op.execute, dialect)
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.drop_column('fee_cover_minor')
    if dialect == "sqlite":
        rollups.create_triggers(op.execute, dialect)
    _ledger_checks(_OLD_KINDS, "")
