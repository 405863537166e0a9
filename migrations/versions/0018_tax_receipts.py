"""Tax receipts (寄附金受領証明書) per calendar year: the donor's addressee for them (name, its
reading in kana, postal code and address) and a record of each year's issue, so a second
copy says it is a reissue

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 17:05:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMN (never a batch copy of donors: the ledger's triggers name that table)
    for column, length in (('tax_name', 200), ('tax_kana', 200), ('tax_postal_code', 8),
                           ('tax_address', 300)):
        op.add_column('donors', sa.Column(column, sa.String(length=length), nullable=False,
                                          server_default=sa.text("''")))
    op.create_table(
        'tax_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('first_issued_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('last_issued_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('issues', sa.Integer(), nullable=False, server_default='1'),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_tax_receipts_donor_id_donors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_receipts')),
        sa.UniqueConstraint('donor_id', 'year', name=op.f('uq_tax_receipts_donor_id')),
    )


def downgrade():
    op.drop_table('tax_receipts')
    with op.batch_alter_table('donors') as batch:
        batch.drop_column('tax_address')
        batch.drop_column('tax_postal_code')
        batch.drop_column('tax_kana')
        batch.drop_column('tax_name')
