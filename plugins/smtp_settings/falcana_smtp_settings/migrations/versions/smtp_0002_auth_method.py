"""auth method

Revision ID: smtp_0002
Revises: smtp_0001
"""

import sqlalchemy as sa
from alembic import op

revision = 'smtp_0002'
down_revision = 'smtp_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_method', sa.String(length=20), nullable=False,
                                      server_default='password'))



def downgrade() -> None:
    with op.batch_alter_table('smtp_accounts', schema=None) as batch_op:
        batch_op.drop_column('auth_method')

