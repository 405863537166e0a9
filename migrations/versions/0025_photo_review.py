"""Every photo that can reach a public page waits for a staff decision: a cover or post photo in
which the face check finds no face is "unreviewed" (not public) until staff confirm that no
person can be recognised in it (the new status "no_person"), mark an area to blur, or confirm
the person's consent

Existing photos: those with a decision (blurred, consented) keep it, and held ones stay held.
Those the check found no face in ("clear") had no decision from anyone: safety first, they
become "unreviewed" and are NOT shown publicly (covers, post photos, og:image, the image
addresses answer 404) until staff review them on the staff pages ("Photos awaiting review"
on the staff dashboard lists them). Going down turns "unreviewed" and "no_person" back into
"clear".

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_TABLES = ('case_covers', 'post_images')
_OLD_CHECK = "face_status IN ('clear', 'held', 'blurred', 'consented')"
_NEW_CHECK = "face_status IN ('unreviewed', 'held', 'blurred', 'consented', 'no_person')"


def _remake(check, default, moves):
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_face_status'), type_='check')
        for old, new in moves:
            op.execute(sa.text(f"UPDATE {table} SET face_status = :new WHERE face_status = :old")
                       .bindparams(new=new, old=old))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('face_status', existing_type=sa.String(length=10),
                                  existing_nullable=False, server_default=default)
            batch_op.create_check_constraint('face_status', check)


def upgrade():
    _remake(_NEW_CHECK, 'unreviewed', [('clear', 'unreviewed')])


def downgrade():
    _remake(_OLD_CHECK, 'clear', [('unreviewed', 'clear'), ('no_person', 'clear')])
