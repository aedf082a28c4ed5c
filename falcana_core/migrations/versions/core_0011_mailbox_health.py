"""mailbox health: each mailbox's ability to send, verified by the worker on a cadence

Revision ID: core_0011
Revises: core_0010
"""

import sqlalchemy as sa
from alembic import op

revision = 'core_0011'
down_revision = 'core_0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mailbox_health',
        sa.Column('mailbox_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.JSON(), nullable=True),
        sa.Column('notices', sa.JSON(), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('mailbox_id'),
    )
    op.create_index('ix_mailbox_health_due', 'mailbox_health', ['next_check_at'])
    op.create_index('ix_mailbox_health_state', 'mailbox_health', ['state'])
    # mailboxes that have sent through the outbox are due at once (workers take a few at a
    # time, beside sending); others join when their settings are saved
    op.execute(sa.text(
        "INSERT INTO mailbox_health (mailbox_id, state, next_check_at) "
        "SELECT DISTINCT mailbox_id, 'unknown', CURRENT_TIMESTAMP FROM outbox_messages"))


def downgrade() -> None:
    op.drop_index('ix_mailbox_health_state', table_name='mailbox_health')
    op.drop_index('ix_mailbox_health_due', table_name='mailbox_health')
    op.drop_table('mailbox_health')
