"""outbox rows carry a recipient key, so rows to one recipient go out in order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:20:00
"""
import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(transport: str, target: object) -> str:
    # storage.models.recipient_key as of this revision
    canonical = json.dumps([transport, target], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=32), nullable=True))
    outbox = sa.table('outbox', sa.column('id', sa.BigInteger), sa.column('transport', sa.String),
                      sa.column('target', sa.JSON), sa.column('recipient', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.transport, outbox.c.target)).all()
    for row_id, transport, target in rows:
        connection.execute(outbox.update().where(outbox.c.id == row_id)
                           .values(recipient=_key(transport, target)))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('recipient', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index('ix_outbox_recipient', ['recipient', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient')
        batch_op.drop_column('recipient')
