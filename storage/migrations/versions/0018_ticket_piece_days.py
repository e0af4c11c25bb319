"""the common pieces counted per day, status and category, and kept as bits (PostgreSQL):
a whole city's search for a word held by many tickets, such as 电梯, since a moment (and
among the open tickets or the repairs), or for several such words (电梯 坏了), says how many
tickets it finds without reading every ticket holding them

`ticket_common_pieces` lists the pieces of at least 10,000 tickets; `ticket_piece_days`
counts their tickets per Beijing day received, status and category, and
`ticket_piece_bits` marks which tickets hold each (a bit string per 65,536 tickets by id,
set by `gridbot_set_bits`). The trigger's change rows carry the ticket and its day
(`ticket_piece_changes.ticket`, `.day`), and a ticket whose time received changes is
recorded too; the workers' fold adds the changes of common pieces to their days, sets their
bits, and makes a piece common once it grows past 10,000 (storage.ticket_counts). The
tables are empty on SQLite, which counts its tickets.

Writes to `tickets` wait only while the changes recorded so far are folded and the trigger
is replaced. The pieces already that common are counted right after, reading every ticket
while tickets are written (`gridbot migrate`: `storage.ticket_counts.make_pieces_common`);
until then such searches are counted from their tickets, as before.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 07:00:00.000000
"""
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# This migration's statements, as they are made here.
FOLD_LOCK = 0x67726964  # the workers' fold's advisory lock (storage.ticket_counts)
_PIECES = "ticket_bigrams({row}.text, {row}.reporter_name, {row}.location)"
_DAY = "CAST(FLOOR((EXTRACT(EPOCH FROM {row}.created_at) + 28800) / 86400) AS INTEGER)"
_CHANGE = ("INSERT INTO ticket_piece_changes (ticket, pieces, day, status, category, delta)"
           " VALUES ({row}.id, " + _PIECES + ", " + _DAY
           + ", {row}.status, {row}.category, {delta})")
_KEYED = ("text", "reporter_name", "location", "status", "category", "created_at")
#: The changes not folded yet, into the counts per piece, status and category (before the
#: changes carry a day).
FOLD = [
    "WITH moved AS (DELETE FROM ticket_piece_changes RETURNING pieces, status, category,"
    " delta) INSERT INTO ticket_piece_counts (piece, status, category, tickets)"
    " SELECT p.piece, r.status, r.category, sum(r.delta) FROM moved AS r CROSS JOIN LATERAL"
    " (SELECT DISTINCT unnest(r.pieces) AS piece) AS p GROUP BY 1, 2, 3"
    " ON CONFLICT (piece, status, category) DO UPDATE"
    " SET tickets = ticket_piece_counts.tickets + EXCLUDED.tickets",
]
TRIGGER = [
    "CREATE FUNCTION gridbot_ticket_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
    f"    {_CHANGE.format(row='OLD', delta=-1)};\n"
    "  END IF;\n"
    "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
    f"    {_CHANGE.format(row='NEW', delta=1)};\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$",
    "CREATE TRIGGER ticket_pieces_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
    " EXECUTE FUNCTION gridbot_ticket_pieces()",
    f"CREATE TRIGGER ticket_pieces_update AFTER UPDATE OF {', '.join(_KEYED)} ON tickets"
    " FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _KEYED)
    + ") EXECUTE FUNCTION gridbot_ticket_pieces()",
]
#: Bits set (1) or cleared (0) at positions of a bit string of 65,536, zeros when NULL.
SET_BITS = [
    "CREATE FUNCTION gridbot_set_bits(bits bit varying, positions integer[],"
    " bit_values integer[]) RETURNS bit varying LANGUAGE plpgsql IMMUTABLE AS $$\n"
    "DECLARE\n"
    "  result bit varying := coalesce(bits, repeat('0', 65536)::bit varying);\n"
    "BEGIN\n"
    "  FOR i IN 1 .. coalesce(array_length(positions, 1), 0) LOOP\n"
    "    result := set_bit(result, positions[i], bit_values[i]);\n"
    "  END LOOP;\n"
    "  RETURN result;\n"
    "END $$",
]
DROP_TRIGGER = ["DROP TRIGGER IF EXISTS ticket_pieces_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_pieces_insert ON tickets",
                "DROP FUNCTION IF EXISTS gridbot_ticket_pieces()"]


def _hold_writes() -> None:
    """No fold runs and no ticket is written until this migration commits: the changes
    recorded so far are folded before the trigger is replaced."""
    op.execute(f"SELECT pg_advisory_xact_lock({FOLD_LOCK})")
    op.execute("LOCK TABLE tickets IN SHARE MODE")
    for statement in (*FOLD, *DROP_TRIGGER):
        op.execute(statement)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _hold_writes()
    # Empty by now: the ticket and its day are for the changes recorded from here on.
    with op.batch_alter_table("ticket_piece_changes") as table:
        table.add_column(sa.Column("ticket", sa.BigInteger(), nullable=False))
        table.add_column(sa.Column("day", sa.Integer(), nullable=False))
    op.create_table(
        "ticket_common_pieces",
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("piece"),
    )
    op.create_table(
        "ticket_piece_days",
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("piece", "day", "status", "category"),
    )
    op.create_table(
        "ticket_piece_bits",
        sa.Column("piece", sa.String(length=8), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bits", sa.Text().with_variant(postgresql.BIT(varying=True), "postgresql"),
                  nullable=False),
        sa.PrimaryKeyConstraint("piece", "chunk"),
    )
    if postgres:
        for statement in (*SET_BITS, *TRIGGER):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _hold_writes()
        op.execute("DROP FUNCTION gridbot_set_bits(bit varying, integer[], integer[])")
    op.drop_table("ticket_piece_bits")
    op.drop_table("ticket_piece_days")
    op.drop_table("ticket_common_pieces")
    with op.batch_alter_table("ticket_piece_changes") as table:
        table.drop_column("day")
        table.drop_column("ticket")
    if postgres:
        # Migration 0016's trigger, as it makes it.
        path = Path(__file__).with_name("0016_ticket_piece_status_counts.py")
        spec = importlib.util.spec_from_file_location("gridbot_migration_0016", path)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        for statement in migration.TRIGGER:
            op.execute(statement)
