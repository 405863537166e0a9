"""Following a case without giving: one row per (case, email) with double opt-in, and the
extra headers a queued message carries (List-Unsubscribe for the followers' mail)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'case_follows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=True),
        sa.Column('secret', sa.String(length=32), nullable=False),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('confirm_sent_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('confirmed_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'],
                                name=op.f('fk_case_follows_case_id_rescue_cases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_follows')),
        sa.UniqueConstraint('case_id', 'email', name=op.f('uq_case_follows_case_id')),
    )
    op.create_index('ix_case_follows_email', 'case_follows', ['email'])
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('headers_json', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages') as batch:
        batch.drop_column('headers_json')
    op.drop_index('ix_case_follows_email', table_name='case_follows')
    op.drop_table('case_follows')
