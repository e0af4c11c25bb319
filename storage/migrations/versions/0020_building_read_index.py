"""a person's searched list reads its tickets' text from the index of their buildings: a
street's search for a word in most of its tickets (楼) 209–282 → 70–122 ms over a city, on
a slower machine

`ix_tickets_building_read` is migration 0012's index (building, updated, id) holding also
what a person's list matches and sorts by (their text, reporter and location, status,
category, the columns of their deadline): such a list reads a street's 50,000 tickets from
the index, in one run per building, instead of their rows, scattered over the table (21,000
pages for a street of the generated city). It replaces `ix_tickets_building_updated` (1.8
GB against 387 MB over the city). SQLite keeps the index without what it holds.

On a large database create the index first, with CONCURRENTLY, under the same name, and drop
the old one with DROP INDEX CONCURRENTLY (README, "Figures at city size"): this migration
skips an index that exists and one already dropped.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 09:40:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What the index holds beside its keys, as the model lists it.
HELD = ["created_at", "status", "department_id", "reported_at", "respond_due_at",
        "accept_due_at", "resolve_due_at", "category", "text", "reporter_name", "location"]


def upgrade() -> None:
    op.create_index("ix_tickets_building_read", "tickets", ["building_id", "updated_at", "id"],
                    postgresql_include=HELD, if_not_exists=True)
    op.drop_index("ix_tickets_building_updated", table_name="tickets", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_tickets_building_updated", "tickets",
                    ["building_id", "updated_at", "id"], if_not_exists=True)
    op.drop_index("ix_tickets_building_read", table_name="tickets")
