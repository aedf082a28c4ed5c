"""oauth (now the OAuth plugin's: its migration oauth_0001 creates these tables; a
database that ran this revision before keeps them and the plugin adopts them)

Revision ID: core_0004
Revises: core_0003
"""

revision = 'core_0004'
down_revision = 'core_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
