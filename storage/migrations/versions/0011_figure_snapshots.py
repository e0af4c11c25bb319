"""figure snapshots: the answers of a whole city's figures, made every few minutes by the
workers and served with their time

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 06:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'figure_snapshots',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('made_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('took_ms', sa.Integer(), nullable=True),
        sa.Column('refreshing_until', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('figure_snapshots')
