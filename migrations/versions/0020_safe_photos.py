"""Photos that are safe to show: a case's cover photo (two sizes), and the face check's result
on covers and post photos (held until staff blur the faces or confirm consent)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

FACE_CHECK = "face_status IN ('clear', 'held', 'blurred', 'consented')"


def upgrade():
    op.create_table(
        'case_covers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=40), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('card_data', sa.LargeBinary(), nullable=False),
        sa.Column('card_width', sa.Integer(), nullable=False),
        sa.Column('card_height', sa.Integer(), nullable=False),
        sa.Column('alt_text', sa.String(length=300), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('face_status', sa.String(length=10), server_default='clear', nullable=False),
        sa.Column('face_regions', sa.JSON(), nullable=True),
        sa.Column('face_note', sa.String(length=300), nullable=True),
        sa.CheckConstraint('width > 0 AND height > 0 AND card_width > 0 AND card_height > 0',
                           name=op.f('ck_case_covers_dimensions')),
        sa.CheckConstraint(FACE_CHECK, name=op.f('ck_case_covers_face_status')),
        sa.ForeignKeyConstraint(['case_id'], ['rescue_cases.id'],
                                name=op.f('fk_case_covers_case_id_rescue_cases'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_case_covers_uploaded_by_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_covers')),
        sa.UniqueConstraint('case_id', name=op.f('uq_case_covers_case_id')),
        sa.UniqueConstraint('token', name=op.f('uq_case_covers_token')),
    )
    # Photos uploaded before the check are checked on their next review; they count as clear
    # (they were published under the rules of their day).
    with op.batch_alter_table('post_images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('face_status', sa.String(length=10), server_default='clear',
                                      nullable=False))
        batch_op.add_column(sa.Column('face_regions', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('face_note', sa.String(length=300), nullable=True))
        batch_op.create_check_constraint('face_status', FACE_CHECK)


def downgrade():
    with op.batch_alter_table('post_images', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_post_images_face_status'), type_='check')
        batch_op.drop_column('face_note')
        batch_op.drop_column('face_regions')
        batch_op.drop_column('face_status')
    op.drop_table('case_covers')
