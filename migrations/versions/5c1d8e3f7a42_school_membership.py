"""School membership (issue 10): users.school_status and who verified whom, what a claimant
told us; schools.website, whose domain verifies a claimant automatically

Revision ID: 5c1d8e3f7a42
Revises: b7f2a9d4c1e8
Create Date: 2026-12-02 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1d8e3f7a42'
down_revision = 'b7f2a9d4c1e8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('school_status', sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column('school_verified_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('school_verified_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('school_job_title', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('school_evidence', sa.String(length=1000), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_school_status'), ['school_status'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_users_school_verified_by_id_users'),
            'users',
            ['school_verified_by_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_users_school_status_known'),
            "school_status IS NULL OR school_status IN "
            "('pending', 'verified', 'refused', 'removed')",
        )
    # School users from before membership existed keep their access: they count as verified
    # members from when they joined (an admin can remove any who should not be).
    op.execute(
        "UPDATE users SET school_status = 'verified', school_verified_at = created_at "
        "WHERE role = 'school'"
    )
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('website', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('website')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_school_status_known'), type_='check')
        batch_op.drop_constraint(
            batch_op.f('fk_users_school_verified_by_id_users'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_users_school_status'))
        batch_op.drop_column('school_evidence')
        batch_op.drop_column('school_job_title')
        batch_op.drop_column('school_verified_by_id')
        batch_op.drop_column('school_verified_at')
        batch_op.drop_column('school_status')
