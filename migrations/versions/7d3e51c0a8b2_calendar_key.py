"""schools.calendar_key, employers.calendar_key: a new calendar address revokes the old one

Revision ID: 7d3e51c0a8b2
Revises: 5ebcbfa2b340
Create Date: 2026-11-23 22:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d3e51c0a8b2'
down_revision = '5ebcbfa2b340'
branch_labels = None
depends_on = None


def upgrade():
    # Existing addresses carry no key and count as key 0, so they keep working. Fill existing
    # rows with 0, then drop the server default: the models default in Python.
    for table in ('schools', 'employers'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('calendar_key', sa.Integer(), nullable=False, server_default='0')
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('calendar_key', server_default=None)


def downgrade():
    for table in ('employers', 'schools'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('calendar_key')
