"""Transfers donors make themselves: the organization's bank and ゆうちょ account details, and
pledges (a yen gift promised by transfer, with its short reference code, that counts only once
staff confirm the money arrived)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 17:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

_ACCOUNT_COLUMNS = (
    ('bank_name', 60), ('bank_branch_name', 60), ('bank_branch_number', 3),
    ('bank_account_type', 8), ('bank_account_number', 8), ('bank_account_holder', 120),
    ('yucho_symbol', 5), ('yucho_number', 8), ('yucho_branch_name', 60),
    ('yucho_branch_number', 3), ('yucho_account_type', 8), ('yucho_account_number', 8),
    ('yucho_account_holder', 120),
)


def upgrade():
    with op.batch_alter_table('organization') as batch:
        for name, length in _ACCOUNT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=False,
                                       server_default=sa.text("''")))
    op.create_table(
        'pledges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=40), nullable=False),
        sa.Column('reference', sa.String(length=12), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=True),
        sa.Column('donation_id', sa.Integer(), nullable=True),
        sa.Column('received_on', sa.Date(), nullable=True),
        sa.Column('received_minor', sa.BigInteger(), nullable=True),
        sa.Column('closed_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('cancel_reason', sa.String(length=500), nullable=False),
        sa.CheckConstraint("status IN ('cancelled', 'confirmed', 'pledged')",
                           name=op.f('ck_pledges_status')),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_pledges_amount_positive')),
        sa.CheckConstraint('email IS NULL OR email = lower(email)',
                           name=op.f('ck_pledges_email_lowercase')),
        sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'],
                                name=op.f('fk_pledges_case_id_rescue_cases'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'],
                                name=op.f('fk_pledges_donor_id_donors'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['donation_id'], ['donations.id'],
                                name=op.f('fk_pledges_donation_id_donations'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pledges')),
        sa.UniqueConstraint('public_id', name=op.f('uq_pledges_public_id')),
        sa.UniqueConstraint('reference', name=op.f('uq_pledges_reference')),
        sa.UniqueConstraint('donation_id', name=op.f('uq_pledges_donation_id')),
    )
    op.create_index('ix_pledges_email', 'pledges', ['email'])
    op.create_index('ix_pledges_status_created', 'pledges', ['status', 'created_at'])


def downgrade():
    op.drop_index('ix_pledges_status_created', table_name='pledges')
    op.drop_index('ix_pledges_email', table_name='pledges')
    op.drop_table('pledges')
    with op.batch_alter_table('organization') as batch:
        for name, _length in reversed(_ACCOUNT_COLUMNS):
            batch.drop_column(name)
