"""Donors sign in by an emailed link: the links (hashed) and the sessions they started

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'donor_sign_ins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('donor_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('expires_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('used_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.Column('ended_at', tracker.core.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_donor_sign_ins_token_hash_sha256')),
        sa.ForeignKeyConstraint(['donor_id'], ['donors.id'],
                                name=op.f('fk_donor_sign_ins_donor_id_donors'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_donor_sign_ins')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_donor_sign_ins_token_hash')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('donor_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_donor_sign_ins_donor_id'), ['donor_id'], unique=False)


def downgrade():
    with op.batch_alter_table('donor_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_donor_sign_ins_donor_id'))
    op.drop_table('donor_sign_ins')
