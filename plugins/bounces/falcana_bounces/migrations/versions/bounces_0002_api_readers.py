"""inbox read through a mail API: its position (Graph's delta link, Gmail's history id)
and each report's message id there

Revision ID: bounces_0002
Revises: bounces_0001
"""

import sqlalchemy as sa
from alembic import op

revision = 'bounces_0002'
down_revision = 'bounces_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bounce_cursors') as batch:
        batch.add_column(sa.Column('position', sa.Text(), nullable=True))
    with op.batch_alter_table('bounce_reports') as batch:
        batch.add_column(sa.Column('source_id', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bounce_reports') as batch:
        batch.drop_column('source_id')
    with op.batch_alter_table('bounce_cursors') as batch:
        batch.drop_column('position')
