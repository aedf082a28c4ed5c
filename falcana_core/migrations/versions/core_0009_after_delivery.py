"""durable steps after delivery, any plugin's: the copy in Sent's columns become rows

Revision ID: core_0009
Revises: core_0008
"""

import sqlalchemy as sa
from alembic import op

revision = 'core_0009'
down_revision = 'core_0008'
branch_labels = None
depends_on = None

#: the copy in Sent's states as they were stored, and as the duty's
STATES = {'pending': 'pending', 'filed': 'done', 'failed': 'failed'}
#: added once the copy's columns are gone: on SQLite, changing ``outbox_messages`` means
#: dropping it, and with foreign keys on that would delete the rows that refer to it
FK = 'fk_outbox_after_delivery_outbox_id'


def _refer_to_messages(add: bool) -> None:
    with op.batch_alter_table('outbox_after_delivery', schema=None) as batch_op:
        if add:
            batch_op.create_foreign_key(FK, 'outbox_messages', ['outbox_id'], ['id'],
                                        ondelete='CASCADE')
        else:
            batch_op.drop_constraint(FK, type_='foreignkey')


def upgrade() -> None:
    op.create_table(
        'outbox_after_delivery',
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('duty', sa.String(length=40), nullable=False),
        sa.Column('mailbox_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('outbox_id', 'duty'),
    )
    op.create_index('ix_outbox_after_delivery_due', 'outbox_after_delivery',
                    ['status', 'next_at'])
    op.create_index('ix_outbox_after_delivery_mailbox', 'outbox_after_delivery',
                    ['mailbox_id', 'status', 'next_at'])
    for old, new in STATES.items():
        op.execute(sa.text(
            "INSERT INTO outbox_after_delivery (outbox_id, duty, mailbox_id, status, "
            "attempts, next_at, error) SELECT id, 'sent_copy', mailbox_id, :new, "
            "copy_attempts, COALESCE(copy_next_at, sent_at, created_at), copy_error "
            "FROM outbox_messages WHERE copy_status = :old").bindparams(old=old, new=new))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_copy_status'))
        for column in ('copy_error', 'copy_next_at', 'copy_attempts', 'copy_status'):
            batch_op.drop_column(column)
    _refer_to_messages(True)


def downgrade() -> None:
    _refer_to_messages(False)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copy_status', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('copy_attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('copy_next_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('copy_error', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_copy_status'), ['copy_status'],
                              unique=False)
    for old, new in STATES.items():
        op.execute(sa.text(
            "UPDATE outbox_messages SET copy_status = :old, copy_attempts = (SELECT "
            "a.attempts FROM outbox_after_delivery a WHERE a.outbox_id = outbox_messages.id "
            "AND a.duty = 'sent_copy'), copy_next_at = (SELECT a.next_at FROM "
            "outbox_after_delivery a WHERE a.outbox_id = outbox_messages.id AND a.duty = "
            "'sent_copy'), copy_error = (SELECT a.error FROM outbox_after_delivery a WHERE "
            "a.outbox_id = outbox_messages.id AND a.duty = 'sent_copy') WHERE id IN (SELECT "
            "outbox_id FROM outbox_after_delivery WHERE duty = 'sent_copy' AND status = :new)"
        ).bindparams(old=old, new=new))
    op.drop_index('ix_outbox_after_delivery_mailbox', table_name='outbox_after_delivery')
    op.drop_index('ix_outbox_after_delivery_due', table_name='outbox_after_delivery')
    op.drop_table('outbox_after_delivery')
