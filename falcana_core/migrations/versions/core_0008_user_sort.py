"""the user list's order as an index: every page costs the same

Revision ID: core_0008
Revises: core_0007
"""

from alembic import op

revision = 'core_0008'
down_revision = 'core_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_sort', ['last_name', 'first_name', 'login'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_sort')
