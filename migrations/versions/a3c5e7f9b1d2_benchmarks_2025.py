"""The 2025 benchmarks: offer durations, provider encounters, meaningful encounters

offers.days, offers.hours_a_day (hours per pupil = days x hours a day; existing offers are one
hour), offers.provider_encounter; requests.provider_only; encounters.hours, school_criteria,
employer_criteria, reflected_pct.

Revision ID: a3c5e7f9b1d2
Revises: d3a8e6f1b2c4
Create Date: 2026-12-02 10:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c5e7f9b1d2'
down_revision = 'd3a8e6f1b2c4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('days', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(
            sa.Column('hours_a_day', sa.Float(), nullable=False, server_default='1')
        )
        batch_op.add_column(
            sa.Column('provider_encounter', sa.Boolean(), nullable=False,
                      server_default=sa.false())
        )
        batch_op.create_check_constraint(op.f('ck_offers_days_range'), 'days BETWEEN 1 AND 20')
        batch_op.create_check_constraint(
            op.f('ck_offers_hours_a_day_range'), 'hours_a_day > 0 AND hours_a_day <= 10'
        )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.alter_column('days', server_default=None)
        batch_op.alter_column('hours_a_day', server_default=None)
        batch_op.alter_column('provider_encounter', server_default=None)
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('provider_only', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.alter_column('provider_only', server_default=None)
    with op.batch_alter_table('encounters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hours', sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column('school_criteria', sa.JSON(), nullable=False, server_default='[]')
        )
        batch_op.add_column(
            sa.Column('employer_criteria', sa.JSON(), nullable=False, server_default='[]')
        )
        batch_op.add_column(sa.Column('reflected_pct', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_encounters_hours_positive'), 'hours IS NULL OR hours > 0'
        )
        batch_op.create_check_constraint(
            op.f('ck_encounters_reflected_pct_range'), 'reflected_pct IS NULL OR reflected_pct BETWEEN 0 AND 100'
        )
    with op.batch_alter_table('encounters', schema=None) as batch_op:
        batch_op.alter_column('school_criteria', server_default=None)
        batch_op.alter_column('employer_criteria', server_default=None)


def downgrade():
    with op.batch_alter_table('encounters', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_encounters_reflected_pct_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_encounters_hours_positive'), type_='check')
        batch_op.drop_column('reflected_pct')
        batch_op.drop_column('employer_criteria')
        batch_op.drop_column('school_criteria')
        batch_op.drop_column('hours')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('provider_only')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_offers_hours_a_day_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_offers_days_range'), type_='check')
        batch_op.drop_column('provider_encounter')
        batch_op.drop_column('hours_a_day')
        batch_op.drop_column('days')
