"""insight_snapshots: fairness against first come, first served and where one more offer
helps most, stored per match run so the insights pages read them instead of solving

Revision ID: e4b7a1c93d20
Revises: e4a1c7b2d9f0
Create Date: 2026-12-02 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b7a1c93d20'
down_revision = 'e4a1c7b2d9f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'insight_snapshots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('computed_for', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('schools', sa.JSON(), nullable=False),
        sa.Column('gains', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ['run_id'], ['match_runs.id'],
            name=op.f('fk_insight_snapshots_run_id_match_runs'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_snapshots')),
    )
    with op.batch_alter_table('insight_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_snapshots_run_id'), ['run_id'], unique=False)


def downgrade():
    with op.batch_alter_table('insight_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_snapshots_run_id'))
    op.drop_table('insight_snapshots')
