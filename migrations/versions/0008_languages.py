"""Languages: a post's language and its version in the other one; the language donors gave in

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 02:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=2), nullable=False,
                                      server_default='en'))
        batch_op.create_check_constraint('language', "language IN ('en', 'ja')")
    op.create_table(
        'post_translations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body_markdown', sa.Text(), nullable=False),
        sa.Column('updated_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("language IN ('en', 'ja')", name=op.f('ck_post_translations_language')),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'],
                                name=op.f('fk_post_translations_post_id_posts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_post_translations')),
        sa.UniqueConstraint('post_id', 'language', name='uq_post_translations_post_language'),
    )
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=2), nullable=True))
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=2), nullable=True))


def downgrade():
    with op.batch_alter_table('donations', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_column('locale')
    op.drop_table('post_translations')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_constraint('ck_posts_language', type_='check')
        batch_op.drop_column('language')
