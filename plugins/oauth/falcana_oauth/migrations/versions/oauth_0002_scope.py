"""the scopes a connection's tokens were granted for

A mailbox that sends through a mail API (Microsoft Graph, the Gmail API) needs other
scopes than SMTP; the connection remembers what its sign-in covers, so changing the
transport asks for a new sign-in only when the scopes differ.

Revision ID: oauth_0002
Revises: oauth_0001
"""

import sqlalchemy as sa
from alembic import op

revision = 'oauth_0002'
down_revision = 'oauth_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_connections', schema=None) as batch_op:
        batch_op.drop_column('scope')
