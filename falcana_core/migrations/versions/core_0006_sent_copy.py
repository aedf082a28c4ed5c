"""the copy in Sent: a second, durable step after sending

Revision ID: core_0006
Revises: core_0005
"""

import sqlalchemy as sa
from alembic import op

revision = 'core_0006'
down_revision = 'core_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copy_status', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('copy_attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('copy_next_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('copy_error', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_copy_status'), ['copy_status'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_copy_status'))
        for column in ('copy_error', 'copy_next_at', 'copy_attempts', 'copy_status'):
            batch_op.drop_column(column)
