"""mailboxes moved off their password in bulk, with what they were before

``falcana mail migrate`` switches many mailboxes to app-only or delegation at once; each
keeps its previous (non-secret) settings here so that ``--rollback`` restores them.

Revision ID: oauth_0003
Revises: oauth_0002
"""

import sqlalchemy as sa
from alembic import op

revision = 'oauth_0003'
down_revision = 'oauth_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_migrations',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=50), nullable=False),
    sa.Column('auth_method', sa.String(length=20), nullable=False),
    sa.Column('previous', sa.JSON(), nullable=False),
    sa.Column('switched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('switched_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id')
    )


def downgrade() -> None:
    op.drop_table('oauth_migrations')
