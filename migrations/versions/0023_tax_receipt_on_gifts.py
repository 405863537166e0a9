"""A gift (and a monthly gift) may ask for a tax receipt (寄附金受領証明書) on the give form:
whether it asked, and the addressee's reading in katakana, postal code and address (the name
is ``receipt_name``); all nullable, personal, erased when the donor is anonymized

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 17:20:00

"""
from alembic import op
import sqlalchemy as sa

from tracker.ledger import rollups


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

_TABLES = ('donations', 'recurring_gifts')


def upgrade():
    for table in _TABLES:
        op.add_column(table, sa.Column('tax_receipt_requested', sa.Boolean(), nullable=True))
        op.add_column(table, sa.Column('receipt_kana', sa.String(length=200), nullable=True))
        op.add_column(table, sa.Column('receipt_postal_code', sa.String(length=10), nullable=True))
        op.add_column(table, sa.Column('receipt_address', sa.String(length=300), nullable=True))


def downgrade():
    # SQLite rebuilds a table to drop a column, and the donations table's rollup triggers
    # go with the old one: dropped first and made again after (as 0021 does)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        rollups.drop_triggers(op.execute, dialect)
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('receipt_address')
            batch_op.drop_column('receipt_postal_code')
            batch_op.drop_column('receipt_kana')
            batch_op.drop_column('tax_receipt_requested')
    if dialect == "sqlite":
        rollups.create_triggers(op.execute, dialect)
