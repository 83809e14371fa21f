"""requests (status, has_candidate) index for the gaps page

Revision ID: 5ebcbfa2b340
Revises: c9c2e13578f1
Create Date: 2026-11-23 19:38:22.888338

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ebcbfa2b340'
down_revision = 'c9c2e13578f1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index('ix_requests_status_has_candidate', ['status', 'has_candidate'], unique=False)



def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_status_has_candidate')

