"""the pieces of a ticket declared as dear to compute as they are (PostgreSQL)

`ticket_bigrams` (migration 0014) is a PL/pgSQL loop: about 10 µs a ticket, measured over
200,000 of the generated city's, which is three times what PostgreSQL assumes of a function
declared with the default cost of 100. Planned at that cost, a whole city's list searched
for 电梯 among the tickets of the last 30 days was counted by walking those 560,000 tickets
computing each one's pieces (3.6 s); at 300 the planner meets the index of pieces with the
index of dates (0.4 s), and no other list of `bench/stats.py` changed beyond its noise
(README, "Figures at city size"). At 1000, a street's searches got slower.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 05:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION ticket_bigrams(text, text, text) COST 300")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION ticket_bigrams(text, text, text) COST 100")
