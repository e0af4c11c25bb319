"""conversations that remember: what gridbot remembers of a sender in a chat (a question
waiting for its answer, fragments of a report, the report just made) and residents' homes;
a sender's waiting messages indexed, as one is taken only after the earlier ones

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 03:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


_WAITING = sa.text(storage.models.WAITING_CONDITION)


def upgrade() -> None:
    op.create_index('ix_inbound_waiting_sender', 'inbound_messages', ['sender_id'],
                    postgresql_where=_WAITING, sqlite_where=_WAITING)
    op.create_table(
        'conversations',
        sa.Column('id', _ID, nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('sender_id', sa.String(length=200), nullable=False),
        sa.Column('chat_key', sa.String(length=200), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'sender_id', 'chat_key'),
    )
    op.create_index(op.f('ix_conversations_expires_at'), 'conversations', ['expires_at'])
    op.create_table(
        'resident_homes',
        sa.Column('id', _ID, nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('sender_id', sa.String(length=200), nullable=False),
        sa.Column('building_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel', 'sender_id'),
    )
    op.create_index(op.f('ix_resident_homes_building_id'), 'resident_homes', ['building_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_resident_homes_building_id'), table_name='resident_homes')
    op.drop_table('resident_homes')
    op.drop_index(op.f('ix_conversations_expires_at'), table_name='conversations')
    op.drop_table('conversations')
    op.drop_index('ix_inbound_waiting_sender', table_name='inbound_messages')
