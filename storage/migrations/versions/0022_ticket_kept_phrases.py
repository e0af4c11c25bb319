"""the tickets holding each word of three characters or more a whole city was searched for,
kept as bits from its first search (PostgreSQL): the next searches for it are counted and
paged by ANDing bits, where each read half a million tickets' rows to confirm the word

`ticket_kept_phrases` names the words kept (with their two-character pieces) and
`ticket_phrase_bits` marks their tickets per 65,536 by id, as `ticket_piece_bits` marks a
piece's; the workers' fold keeps them from the change rows (storage.ticket_phrases). Nothing
is kept until a search asks: the tables start empty. They stay empty on SQLite, which
counts its tickets.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 04:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BITS = sa.Text().with_variant(postgresql.BIT(varying=True), "postgresql")
_PIECES = postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_kept_phrases",
        sa.Column("phrase", sa.String(length=32), nullable=False),
        sa.Column("pieces", _PIECES, nullable=False),
        sa.Column("kept_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phrase"),
    )
    op.create_table(
        "ticket_phrase_bits",
        sa.Column("phrase", sa.String(length=32), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bits", _BITS, nullable=False),
        sa.PrimaryKeyConstraint("phrase", "chunk"),
    )


def downgrade() -> None:
    op.drop_table("ticket_phrase_bits")
    op.drop_table("ticket_kept_phrases")
