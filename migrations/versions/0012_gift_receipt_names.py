"""The name for the receipt, kept on each gift and each monthly gift

A gift's receipt carries the name typed on that gift (or none), never the stored donor's: a
gift made with someone else's email used to put that person's name on its receipt. The wall
name (``display_name``) is kept only when the donor chose to show it, so the receipt's name
needs its own column. Existing rows start NULL (their receipts are issued already).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # A nullable ADD COLUMN: no table rebuild on SQLite (the ledger's rollup triggers, which
    # read donations, stay as they are).
    op.add_column('donations', sa.Column('receipt_name', sa.String(length=200), nullable=True))
    op.add_column('recurring_gifts', sa.Column('receipt_name', sa.String(length=200),
                                               nullable=True))


def downgrade():
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later, PostgreSQL): no rebuild either.
    op.execute('ALTER TABLE recurring_gifts DROP COLUMN receipt_name')
    op.execute('ALTER TABLE donations DROP COLUMN receipt_name')
