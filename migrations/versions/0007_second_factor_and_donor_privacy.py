"""TOTP second factor for users; anonymized donors, whose receipts may lose their name

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 23:40:00

"""
from alembic import op
import sqlalchemy as sa

import tracker.core.types


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


# Receipts stay immutable, but for one change: anonymizing a donor (at their request) may
# replace the name on their receipts with this text, and touch nothing else.
ANONYMIZED = "Anonymized donor"
_PG_GUARD = f"""
CREATE FUNCTION receipts_guard_update() RETURNS trigger AS $$
BEGIN
    IF NEW.donor_name = '{ANONYMIZED}'
       AND (to_jsonb(NEW) - 'donor_name') = (to_jsonb(OLD) - 'donor_name') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'receipts are immutable; issue a correction instead';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER receipts_no_update ON receipts;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipts_guard_update();
"""
_PG_GUARD_DOWN = """
DROP TRIGGER receipts_no_update ON receipts;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipts_immutable();
DROP FUNCTION receipts_guard_update();
"""
_SQLITE_GUARD = (
    "CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts"
    f" WHEN NOT (NEW.donor_name = '{ANONYMIZED}' AND NEW.id = OLD.id AND NEW.number = OLD.number"
    " AND NEW.donation_id = OLD.donation_id AND NEW.amount_minor = OLD.amount_minor"
    " AND NEW.currency = OLD.currency AND NEW.purpose = OLD.purpose"
    " AND NEW.issued_at = OLD.issued_at)"
    " BEGIN SELECT RAISE(ABORT, 'receipts are immutable; issue a correction instead'); END"
)
_SQLITE_GUARD_DOWN = (
    "CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts BEGIN "
    "SELECT RAISE(ABORT, 'receipts are immutable; issue a correction instead'); END"
)


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', tracker.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymized_at', tracker.core.types.UTCDateTime(timezone=True),
                                      nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
    else:
        op.execute("DROP TRIGGER receipts_no_update")
        op.execute(_SQLITE_GUARD)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD_DOWN)
    else:
        op.execute("DROP TRIGGER receipts_no_update")
        op.execute(_SQLITE_GUARD_DOWN)
    with op.batch_alter_table('donors', schema=None) as batch_op:
        batch_op.drop_column('anonymized_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')
