"""bounce tables: each mailbox's inbox cursor and the reports found

Revision ID: bounces_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = 'bounces_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bounce_cursors',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.Integer(), nullable=False),
    sa.Column('looked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_look_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id')
    )
    op.create_table('bounce_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('diagnostic', sa.String(length=500), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('matched_by', sa.String(length=20), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox_messages.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bounce_reports_mailbox_found', 'bounce_reports',
                    ['mailbox_id', 'found_at'])
    op.create_index('ix_bounce_reports_outbox', 'bounce_reports', ['outbox_id'])


def downgrade() -> None:
    op.drop_table('bounce_reports')
    op.drop_table('bounce_cursors')
