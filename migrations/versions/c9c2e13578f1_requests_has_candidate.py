"""requests.has_candidate: cold spots found by the nightly match

Revision ID: c9c2e13578f1
Revises: 5b1e0c7d9a42
Create Date: 2026-11-23 19:35:14.291662

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9c2e13578f1'
down_revision = '5b1e0c7d9a42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('has_candidate', sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column('candidates_checked_at', sa.DateTime(timezone=True), nullable=True)
        )



def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('candidates_checked_at')
        batch_op.drop_column('has_candidate')

