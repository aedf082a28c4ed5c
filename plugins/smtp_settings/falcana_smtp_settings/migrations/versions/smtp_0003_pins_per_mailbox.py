"""pins per mailbox

A pin used to hold for a host and port, for every mailbox: one user's pin turned
certificate checks off for everyone on that server. Pins now belong to one mailbox and
one server; existing pins move to the mailboxes that use their server.

Revision ID: smtp_0003
Revises: smtp_0002
"""

import sqlalchemy as sa
from alembic import op

revision = 'smtp_0003'
down_revision = 'smtp_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pin_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pin_for', sa.String(length=262), nullable=True))
        batch_op.add_column(sa.Column('offered_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('offered_for', sa.String(length=262), nullable=True))
        batch_op.add_column(sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE smtp_accounts SET "
        "pin_sha256 = (SELECT p.sha256 FROM smtp_certificate_pins p "
        "WHERE p.host = smtp_accounts.host AND p.port = smtp_accounts.port), "
        "pin_for = host || ':' || CAST(port AS VARCHAR(10)) "
        "WHERE EXISTS (SELECT 1 FROM smtp_certificate_pins p "
        "WHERE p.host = smtp_accounts.host AND p.port = smtp_accounts.port)")
    op.drop_table('smtp_certificate_pins')


def downgrade() -> None:
    op.create_table(
        'smtp_certificate_pins',
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint('host', 'port'))
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        for column in ('offered_at', 'offered_for', 'offered_sha256', 'pin_for', 'pin_sha256'):
            batch_op.drop_column(column)
