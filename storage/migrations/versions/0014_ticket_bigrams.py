"""a free-text search over a city's tickets served by an index of their two-character
pieces (PostgreSQL only): a word is looked for in the tickets whose text, reporter or
location holds each of its pieces, instead of in every ticket's text

`ticket_bigrams(text, reporter, location)` is the set of every two characters that follow
each other in one of the three, lowered as ILIKE lowers them; a GIN index holds it for each
ticket. Two-character pieces, because most Chinese words are two characters, which
pg_trgm's three-character pieces do not serve.

On a large database create the function with this migration's SQL and the index first, with
CONCURRENTLY, under the same name (README, "Figures at city size"): this migration skips an
index that exists.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 00:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A loop of simple expressions, which PL/pgSQL evaluates without planning a statement: as one
# SQL statement the function was planned again for every ticket written (in SQL) or, in
# PL/pgSQL, on every call where plans are not reused (a searched list's transaction).
# Repeated pieces are kept; the index holds each once.
BIGRAMS = """
CREATE OR REPLACE FUNCTION ticket_bigrams(text, text, text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  part text;
  pieces text[] := '{}';
BEGIN
  FOREACH part IN ARRAY ARRAY[lower($1), lower($2), lower($3)] LOOP
    FOR i IN 1 .. coalesce(char_length(part), 0) - 1 LOOP
      pieces := pieces || substr(part, i, 2);
    END LOOP;
  END LOOP;
  RETURN pieces;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BIGRAMS)
    op.execute("CREATE INDEX IF NOT EXISTS ix_tickets_bigrams ON tickets "
               "USING gin (ticket_bigrams(text, reporter_name, location))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_tickets_bigrams")
    op.execute("DROP FUNCTION IF EXISTS ticket_bigrams(text, text, text)")
