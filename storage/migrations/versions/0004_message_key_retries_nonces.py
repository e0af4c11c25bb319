"""inbound messages are one per (channel, chat, msg_id) and carry their retry state;
event actors hold any sender; nonces of signed requests are remembered

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 23:50:00
"""
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _message_key(channel: str, chat_id: str | None, msg_id: str) -> str:
    # storage.inbound.message_key as of this revision
    joined = "\x1f".join((channel, chat_id or "", msg_id)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()


def _inbound_before(metadata: sa.MetaData) -> sa.Table:
    """inbound_messages as 0001 made it, without its (channel, msg_id) constraint, for
    SQLite's batch mode to rebuild the table from."""
    return sa.Table(
        'inbound_messages', metadata,
        sa.Column('id', BIG_ID, primary_key=True),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('msg_id', sa.String(length=200), nullable=False),
        sa.Column('chat_id', sa.String(length=200), nullable=True),
        sa.Column('chat_name', sa.String(length=200), nullable=True),
        sa.Column('sender_id', sa.String(length=200), nullable=False),
        sa.Column('sender_name', sa.String(length=100), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('mentions_bot', sa.Boolean(), nullable=False),
        sa.Column('sent_at', UTC_TIME, nullable=False),
        sa.Column('received_at', UTC_TIME, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_until', UTC_TIME, nullable=True),
        sa.Column('processed_at', UTC_TIME, nullable=True),
        sa.Column('decision', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Index('ix_inbound_pending', 'status', 'received_at'),
    )


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == 'sqlite'
    if sqlite:
        batch = op.batch_alter_table('inbound_messages', recreate='always',
                                     copy_from=_inbound_before(sa.MetaData()))
    else:
        op.drop_constraint('inbound_messages_channel_msg_id_key', 'inbound_messages',
                           type_='unique')
        batch = op.batch_alter_table('inbound_messages')
    with batch as batch_op:
        batch_op.add_column(sa.Column('msg_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', UTC_TIME, nullable=True))

    inbound = sa.table('inbound_messages', sa.column('id', sa.BigInteger),
                       sa.column('channel', sa.String), sa.column('chat_id', sa.String),
                       sa.column('msg_id', sa.String), sa.column('msg_key', sa.String))
    rows = connection.execute(
        sa.select(inbound.c.id, inbound.c.channel, inbound.c.chat_id, inbound.c.msg_id)).all()
    for row_id, channel, chat_id, msg_id in rows:
        connection.execute(inbound.update().where(inbound.c.id == row_id)
                           .values(msg_key=_message_key(channel, chat_id, msg_id)))

    with op.batch_alter_table('inbound_messages') as batch_op:
        batch_op.alter_column('msg_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('failures', existing_type=sa.Integer(), server_default=None)
        batch_op.create_unique_constraint('uq_inbound_messages_msg_key', ['msg_key'])

    with op.batch_alter_table('ticket_events') as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=100),
                              type_=sa.String(length=200), existing_nullable=False)

    op.create_table(
        'seen_nonces',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('body_digest', sa.String(length=64), nullable=False),
        sa.Column('expires_at', UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_seen_nonces_expires_at', 'seen_nonces', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_seen_nonces_expires_at', table_name='seen_nonces')
    op.drop_table('seen_nonces')
    with op.batch_alter_table('ticket_events') as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=200),
                              type_=sa.String(length=100), existing_nullable=False)
    with op.batch_alter_table('inbound_messages') as batch_op:
        batch_op.drop_constraint('uq_inbound_messages_msg_key', type_='unique')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('failures')
        batch_op.drop_column('msg_key')
        batch_op.create_unique_constraint('inbound_messages_channel_msg_id_key',
                                          ['channel', 'msg_id'])
