"""ticket search on PostgreSQL: an index of the two-character pieces of each ticket's text,
reporter and location (storage.ticket_search), so that a search reads only the tickets that
have every piece of what is sought; nothing on SQLite

On a large database create the index first, with CONCURRENTLY, under the same name (README,
"Figures at city size"): this migration skips an index that exists.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 06:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

from storage import ticket_search

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in ticket_search.INDEX_STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in ticket_search.DROP_STATEMENTS:
        op.execute(statement)
