"""Gifts paid by a konbini voucher or a bank transfer through the payment service keep that
channel ("konbini", "bank_transfer") instead of "card": the donations' channel CHECK allows
"konbini", the gifts already paid that way take their channel, and the rollups are made again
so the reports count them under their way of paying

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 20:00:00

"""
from alembic import op

from tracker.ledger import rollups


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

_OLD = "channel IN ('bank_transfer', 'card', 'cash')"
_NEW = "channel IN ('bank_transfer', 'card', 'cash', 'konbini')"


def _channel_check(before, after):
    """Remake the donations' channel CHECK.

    SQLite would rebuild the whole donations table to change a CHECK, and dropping the old
    table fails on the ledger's and receipts' foreign keys once there are gifts (PRAGMA
    foreign_keys cannot be turned off inside the migration's transaction). Widening or
    narrowing the list of a CHECK changes nothing stored, so there the table's CREATE
    statement is edited in place: SQLite's own procedure for such changes (ALTER TABLE,
    "making other kinds of table schema changes"), with the schema version raised so every
    connection reads it again."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f('ck_donations_channel'), 'donations', type_='check')
        op.create_check_constraint(op.f('ck_donations_channel'), 'donations', after)
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?)"
        " WHERE type = 'table' AND name = 'donations'", (before, after))
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    changed = bind.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'donations'"
        " AND instr(sql, ?) > 0", (after,)).scalar()
    assert changed == 1, "the donations table's channel CHECK was not where expected"


def upgrade():
    _channel_check(_OLD, _NEW)
    op.execute("UPDATE donations SET channel = awaiting_method"
               " WHERE status = 'succeeded' AND channel = 'card' AND gateway <> 'offline'"
               " AND awaiting_method IN ('konbini', 'bank_transfer')")
    rollups.rebuild(op.execute, op.get_bind().dialect.name)


def downgrade():
    op.execute("UPDATE donations SET channel = 'card'"
               " WHERE gateway <> 'offline' AND channel IN ('konbini', 'bank_transfer')")
    rollups.rebuild(op.execute, op.get_bind().dialect.name)
    _channel_check(_NEW, _OLD)
