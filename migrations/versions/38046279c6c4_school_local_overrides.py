"""schools.local_overrides: fields a school corrected, which re-imports keep

Revision ID: 38046279c6c4
Revises: 82103dc849bd
Create Date: 2026-11-23 18:46:44.656243

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '38046279c6c4'
down_revision = '82103dc849bd'
branch_labels = None
depends_on = None


def upgrade():
    # Existing schools have corrected nothing yet: fill them with an empty list, then drop
    # the server default so the models (which default in Python) and the schema agree.
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('local_overrides', sa.JSON(), nullable=False, server_default='[]')
        )
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.alter_column('local_overrides', server_default=None)


def downgrade():
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('local_overrides')
