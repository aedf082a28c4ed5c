"""oauth tables (adopted from the core, which created them in core_0004 before OAuth
became a plugin: a database that has them keeps them, with their tokens)

Revision ID: oauth_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = 'oauth_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'oauth_connections' not in existing:
        op.create_table('oauth_connections',
        sa.Column('mailbox_id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=50), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('account', sa.String(length=320), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.JSON(), nullable=True),
        sa.Column('connected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('refreshes', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('mailbox_id')
        )
    if 'oauth_consent_links' not in existing:
        op.create_table('oauth_consent_links',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('mailbox_id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=50), nullable=False),
        sa.Column('created_by', sa.String(length=150), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash')
        )


def downgrade() -> None:
    op.drop_table('oauth_consent_links')
    op.drop_table('oauth_connections')
