"""job_leases.acquired_at (who holds a lease since when); apscheduler_jobs in the schema

Revision ID: b7f2a9d4c1e8
Revises: e4b7a1c93d20
Create Date: 2026-12-02 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7f2a9d4c1e8'
down_revision = 'e4b7a1c93d20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_leases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=True))

    # APScheduler's job store table, exactly as its SQLAlchemyJobStore would create it. Made
    # here so that two schedulers starting together never race to create it. A scheduler
    # that ran before this revision has made it already, with the same columns and index.
    if sa.inspect(op.get_bind()).has_table('apscheduler_jobs'):
        return
    op.create_table(
        'apscheduler_jobs',
        sa.Column('id', sa.Unicode(length=191), nullable=False),
        sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs')),
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_apscheduler_jobs_next_run_time'), ['next_run_time'], unique=False
        )


def downgrade():
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apscheduler_jobs_next_run_time'))
    op.drop_table('apscheduler_jobs')

    with op.batch_alter_table('job_leases', schema=None) as batch_op:
        batch_op.drop_column('acquired_at')
