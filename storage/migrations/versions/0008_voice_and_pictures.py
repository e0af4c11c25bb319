"""voice and pictures: the media a message referred to, and the pictures of a report

`inbound_messages.media` keeps what a channel said of a message's picture or voice (its
media id, its URL); `attachments` keeps the pictures themselves, each with the ticket it
belongs to (none yet: a resident's picture waiting a few minutes for its report).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 03:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.models import LOOSE_ATTACHMENT

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media', sa.JSON(), nullable=True))
    op.create_table('attachments',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('inbound_id', BIG_ID, nullable=True),
    sa.Column('ticket_id', BIG_ID, nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('sender_id', sa.String(length=200), nullable=False),
    sa.Column('by_staff', sa.Boolean(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('link_token', sa.String(length=64), nullable=True),
    sa.Column('received_at', UTC_TIME, nullable=False),
    sa.Column('attached_at', UTC_TIME, nullable=True),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_messages.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('inbound_id'),
    sa.UniqueConstraint('link_token')
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_ticket_id'), ['ticket_id'],
                              unique=False)
        batch_op.create_index('ix_attachments_sender', ['channel', 'sender_id', 'received_at'],
                              unique=False)
        batch_op.create_index('ix_attachments_loose', ['received_at'], unique=False,
                              postgresql_where=sa.text(LOOSE_ATTACHMENT),
                              sqlite_where=sa.text(LOOSE_ATTACHMENT))


def downgrade() -> None:
    op.drop_table('attachments')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('media')
