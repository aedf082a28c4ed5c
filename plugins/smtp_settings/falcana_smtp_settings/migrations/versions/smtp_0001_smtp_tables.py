"""smtp tables

Revision ID: smtp_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = 'smtp_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('smtp_certificate_pins',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.PrimaryKeyConstraint('host', 'port')
    )
    op.create_table('smtp_accounts',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=320), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=10), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id')
    )


def downgrade() -> None:
    op.drop_table('smtp_accounts')
    op.drop_table('smtp_certificate_pins')
