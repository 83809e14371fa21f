"""matches (status, score DESC, id): the review queue pages without sorting every proposal

Revision ID: 5b1e0c7d9a42
Revises: 38046279c6c4
Create Date: 2026-11-23 19:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b1e0c7d9a42'
down_revision = '38046279c6c4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_index(
            'ix_matches_status_score', ['status', sa.text('score DESC'), 'id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index('ix_matches_status_score')
