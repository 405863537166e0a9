"""The organization's identity (one row), its logo, its about/contact/privacy pages, and the
language of each queued mail (its signature and sender name follow it)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'organization',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.Column('name_en', sa.String(length=120), nullable=False),
        sa.Column('name_ja', sa.String(length=120), nullable=False),
        sa.Column('legal_name_en', sa.String(length=200), nullable=False),
        sa.Column('legal_name_ja', sa.String(length=200), nullable=False),
        sa.Column('representative_en', sa.String(length=120), nullable=False),
        sa.Column('representative_ja', sa.String(length=120), nullable=False),
        sa.Column('postal_code', sa.String(length=10), nullable=False),
        sa.Column('address_en', sa.String(length=300), nullable=False),
        sa.Column('address_ja', sa.String(length=300), nullable=False),
        sa.Column('corporate_number', sa.String(length=13), nullable=False),
        sa.Column('certified', sa.Boolean(), nullable=False),
        sa.Column('certified_on', sa.Date(), nullable=True),
        sa.Column('certifying_authority_en', sa.String(length=120), nullable=False),
        sa.Column('certifying_authority_ja', sa.String(length=120), nullable=False),
        sa.Column('contact_email', sa.String(length=254), nullable=False),
        sa.Column('sender_email', sa.String(length=254), nullable=False),
        sa.Column('logo_name', sa.String(length=60), nullable=True),
        sa.CheckConstraint('id = 1', name=op.f('ck_organization_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    )
    op.create_table(
        'organization_logos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_logos')),
        sa.UniqueConstraint('name', name=op.f('uq_organization_logos_name')),
    )
    op.create_table(
        'site_pages',
        sa.Column('slug', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('body_markdown', sa.Text(), nullable=False),
        sa.Column('updated_at', tracker.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("slug IN ('about', 'contact', 'privacy')", name=op.f('ck_site_pages_slug')),
        sa.CheckConstraint("language IN ('en', 'ja')", name=op.f('ck_site_pages_language')),
        sa.PrimaryKeyConstraint('slug', 'language', name=op.f('pk_site_pages')),
    )
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.drop_column('locale')
    op.drop_table('site_pages')
    op.drop_table('organization_logos')
    op.drop_table('organization')
