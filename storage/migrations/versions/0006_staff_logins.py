"""staff sign-in without WeCom: passwords and one-time links

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('staff_logins',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('password_set_at', UTC_TIME, nullable=True),
    sa.Column('password_set_by', sa.String(length=200), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('failed_since', UTC_TIME, nullable=True),
    sa.Column('locked_until', UTC_TIME, nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id')
    )
    op.create_table('login_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC_TIME, nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('expires_at', UTC_TIME, nullable=False),
    sa.Column('used_at', UTC_TIME, nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_links_person_id'), ['person_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_links_person_id'))
    op.drop_table('login_links')
    op.drop_table('staff_logins')
