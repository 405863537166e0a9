"""The worker's job leases: one row per periodic job (when it last started, finished and
succeeded), so that of any number of workers one starts each run

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 16:10:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_jobs',
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('last_started_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('last_finished_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('last_succeeded_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_jobs')),
    )


def downgrade():
    op.drop_table('worker_jobs')
