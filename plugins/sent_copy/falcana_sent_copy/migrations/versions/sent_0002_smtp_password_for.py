"""the e-mail password goes to the IMAP server only where an admin allowed it

Revision ID: sent_0002
Revises: sent_0001

Until now the copy in Sent logged in with the e-mail (SMTP) password at whatever IMAP
server was saved. From now on that takes an admin's explicit permission, bound to the
IMAP server, port, username and connection type. Mailboxes an admin set up before keep
working: their current IMAP settings get that permission here.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = 'sent_0002'
down_revision = 'sent_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sent_copy_settings') as batch:
        batch.add_column(sa.Column('smtp_password_for', sa.String(length=700), nullable=True))
    table = sa.table('sent_copy_settings', sa.column('mailbox_id', sa.Integer),
                     sa.column('host', sa.String), sa.column('port', sa.Integer),
                     sa.column('security', sa.String), sa.column('username', sa.String),
                     sa.column('smtp_password_for', sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.mailbox_id, table.c.host, table.c.port,
                                  table.c.security, table.c.username)
                        .where(table.c.host != '')).all()
    for mailbox_id, host, port, security, username in rows:
        allowed = json.dumps({"username": username, "host": host, "port": int(port),
                              "security": security}, sort_keys=True)
        bind.execute(table.update().where(table.c.mailbox_id == mailbox_id)
                     .values(smtp_password_for=allowed))


def downgrade() -> None:
    with op.batch_alter_table('sent_copy_settings') as batch:
        batch.drop_column('smtp_password_for')
