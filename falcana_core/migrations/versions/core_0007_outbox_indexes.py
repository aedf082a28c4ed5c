"""the outbox's indexes follow its queries: claim cost flat with delivered history

A claim used ``ix_outbox_messages_mailbox_id`` and walked a mailbox's whole history to
find its few due messages; composite indexes answer each query with one range.

Revision ID: core_0007
Revises: core_0006
"""

from alembic import op

revision = 'core_0007'
down_revision = 'core_0006'
branch_labels = None
depends_on = None

REPLACED = ('mailbox_id', 'status', 'next_attempt_at', 'sent_at')
COMPOSITE = {
    'ix_outbox_messages_mailbox_due': ['mailbox_id', 'status', 'next_attempt_at'],
    'ix_outbox_messages_status_due': ['status', 'next_attempt_at'],
    'ix_outbox_messages_mailbox_sent': ['mailbox_id', 'sent_at'],
}


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        for column in REPLACED:
            batch_op.drop_index(f'ix_outbox_messages_{column}')
        for name, columns in COMPOSITE.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        for name in COMPOSITE:
            batch_op.drop_index(name)
        for column in REPLACED:
            batch_op.create_index(f'ix_outbox_messages_{column}', [column], unique=False)
