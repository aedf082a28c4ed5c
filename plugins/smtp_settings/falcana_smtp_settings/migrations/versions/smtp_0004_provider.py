"""the provider recognised when the settings were saved

Sending reads it instead of asking DNS (an MX look-up) for every connection.

Revision ID: smtp_0004
Revises: smtp_0003
"""

import sqlalchemy as sa
from alembic import op

revision = 'smtp_0004'
down_revision = 'smtp_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        batch_op.drop_column('provider')
