"""a user is found as people type the name (Muessig, Mussig, jurgen), from an index

Revision ID: core_0010
Revises: core_0009
"""

import sqlalchemy as sa
from alembic import op

from falcana_core.search import rows

revision = 'core_0010'
down_revision = 'core_0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    terms = op.create_table(
        'user_search_terms',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('term', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'term'),
    )
    op.create_index(op.f('ix_user_search_terms_term'), 'user_search_terms', ['term'])
    users = op.get_bind().execute(sa.text(
        "SELECT id, login, first_name, last_name, email FROM users")).all()
    found = [row for u in users for row in rows(u[0], u[1:])]
    if found:
        op.bulk_insert(terms, found)


def downgrade() -> None:
    op.drop_index(op.f('ix_user_search_terms_term'), table_name='user_search_terms')
    op.drop_table('user_search_terms')
