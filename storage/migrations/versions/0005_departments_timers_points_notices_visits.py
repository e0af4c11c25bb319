"""departments, timers, the points bank, notices and their acknowledgements, visits;
per-street SLA and points; whistled and rated tickets' deadlines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 00:14:22.629065
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('webhook_key', sa.String(length=200), nullable=True),
    sa.Column('respond_seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['street_id'], ['streets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('street_id', 'name')
    )
    op.create_table('notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('captain_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('send_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('building_ids', sa.JSON(), nullable=False),
    sa.Column('group_ids', sa.JSON(), nullable=False),
    sa.Column('source_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['captain_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['source_message_id'], ['inbound_messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_message_id')
    )
    op.create_table('notice_acks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('sender_id', sa.String(length=200), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'channel', 'sender_id')
    )
    with op.batch_alter_table('notice_acks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_acks_notice_id'), ['notice_id'], unique=False)

    op.create_table('points_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.create_index('ix_points_person', ['person_id', 'id'], unique=False)

    op.create_table('timers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('due_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lease_until', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index('ix_timers_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_timers_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('source_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['source_message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_message_id')
    )
    with op.batch_alter_table('streets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('points', sa.JSON(), nullable=True))

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('respond_due_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reported_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('confirm_due_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key('fk_tickets_department_id', 'departments',
                                    ['department_id'], ['id'], ondelete='SET NULL')



    _street_sla_from_setting()
    _timers_for_open_deadlines()


def _street_sla_from_setting() -> None:
    """The one SLA table kept as a setting becomes every street's own."""
    connection = op.get_bind()
    settings = sa.table('settings', sa.column('key', sa.String), sa.column('value', sa.JSON))
    streets = sa.table('streets', sa.column('sla', sa.JSON))
    value = connection.execute(
        sa.select(settings.c.value).where(settings.c.key == 'sla')).scalar()
    if value is not None:
        connection.execute(streets.update().values(sla=value))
        connection.execute(settings.delete().where(settings.c.key == 'sla'))


def timer_key(kind: str, subject: int, due: datetime) -> str:
    # storage.timers.timer_key as of this revision
    return f"{kind}:{subject}:{due.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%f')}"


def _timers_for_open_deadlines() -> None:
    """Open tickets keep their deadlines: each gets the timers that watch them."""
    connection = op.get_bind()
    tickets = sa.table('tickets', sa.column('id', sa.BigInteger), sa.column('status', sa.String),
                       sa.column('accept_due_at', UTC_TIME), sa.column('resolve_due_at', UTC_TIME))
    timers = sa.table('timers', sa.column('key', sa.String), sa.column('kind', sa.String),
                      sa.column('ticket_id', sa.BigInteger), sa.column('due_at', UTC_TIME),
                      sa.column('status', sa.String), sa.column('attempts', sa.Integer),
                      sa.column('failures', sa.Integer), sa.column('created_at', UTC_TIME))
    now = datetime.now(UTC)
    rows = connection.execute(
        sa.select(tickets.c.id, tickets.c.status, tickets.c.accept_due_at,
                  tickets.c.resolve_due_at)
        .where(tickets.c.status.in_(('new', 'accepted', 'in_progress', 'reopened')))).all()
    for ticket_id, status, accept_due, resolve_due in rows:
        due = [('resolve_due', resolve_due)]
        if status in ('new', 'reopened'):
            due.append(('accept_due', accept_due))
        for kind, at in due:
            if at is not None:
                connection.execute(timers.insert().values(
                    key=timer_key(kind, ticket_id, at), kind=kind, ticket_id=ticket_id, due_at=at,
                    status='pending', attempts=0, failures=0, created_at=now))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tickets_department_id', type_='foreignkey')
        batch_op.drop_column('confirm_due_at')
        batch_op.drop_column('reported_at')
        batch_op.drop_column('respond_due_at')
        batch_op.drop_column('department_id')

    connection = op.get_bind()
    streets = sa.table('streets', sa.column('id', sa.Integer), sa.column('sla', sa.JSON))
    first = connection.execute(
        sa.select(streets.c.sla).where(streets.c.sla.is_not(None)).order_by(streets.c.id)).first()
    if first is not None:
        settings = sa.table('settings', sa.column('key', sa.String), sa.column('value', sa.JSON))
        connection.execute(settings.insert().values(key='sla', value=first[0]))
    with op.batch_alter_table('streets', schema=None) as batch_op:
        batch_op.drop_column('points')
        batch_op.drop_column('sla')

    op.drop_table('visits')
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timers_ticket_id'))
        batch_op.drop_index('ix_timers_due')

    op.drop_table('timers')
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_points_person')

    op.drop_table('points_entries')
    with op.batch_alter_table('notice_acks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_acks_notice_id'))

    op.drop_table('notice_acks')
    op.drop_table('notices')
    op.drop_table('departments')

