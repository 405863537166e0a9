"""A case's Japanese title, summary and coarse region, beside the English ones (NULL: none
yet; Japanese pages then show the English with a note)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 16:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMN (nullable, no constraint): SQLite need not rebuild the table
    op.add_column('rescue_cases', sa.Column('public_title_ja', sa.String(length=200), nullable=True))
    op.add_column('rescue_cases', sa.Column('public_summary_ja', sa.Text(), nullable=True))
    op.add_column('rescue_cases', sa.Column('public_region_ja', sa.String(length=80), nullable=True))


def downgrade():
    op.drop_column('rescue_cases', 'public_region_ja')
    op.drop_column('rescue_cases', 'public_summary_ja')
    op.drop_column('rescue_cases', 'public_title_ja')
