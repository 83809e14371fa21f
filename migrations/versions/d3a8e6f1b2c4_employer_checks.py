"""Employers checked before they reach pupils: verification, suspension, vetting evidence

Revision ID: d3a8e6f1b2c4
Revises: 5c1d8e3f7a42
Create Date: 2026-12-02 10:30:00.000000

Employers already registered keep matching: they are marked verified as of this upgrade
(by nobody), since they were admitted under the old rules; new ones wait to be checked.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3a8e6f1b2c4'
down_revision = '5c1d8e3f7a42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('employers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspended_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('suspended_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_employers_verified_by_id_users'), 'users', ['verified_by_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_employers_suspended_by_id_users'), 'users', ['suspended_by_id'], ['id']
        )
    op.execute(sa.text("UPDATE employers SET verified_at = CURRENT_TIMESTAMP"))

    op.create_table(
        'employer_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('employer_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('stored_name', sa.String(length=80), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=60), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('verified_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('insurance', 'risk_assessment')", name=op.f('ck_employer_documents_kind_known')),
        sa.ForeignKeyConstraint(['employer_id'], ['employers.id'], name=op.f('fk_employer_documents_employer_id_employers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_employer_documents_uploaded_by_id_users')),
        sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_employer_documents_verified_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_employer_documents')),
        sa.UniqueConstraint('stored_name', name=op.f('uq_employer_documents_stored_name')),
    )
    with op.batch_alter_table('employer_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_employer_documents_employer_id'), ['employer_id'], unique=False)


def downgrade():
    with op.batch_alter_table('employer_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_employer_documents_employer_id'))
    op.drop_table('employer_documents')
    with op.batch_alter_table('employers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_employers_suspended_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_employers_verified_by_id_users'), type_='foreignkey')
        batch_op.drop_column('suspended_by_id')
        batch_op.drop_column('suspended_reason')
        batch_op.drop_column('suspended_at')
        batch_op.drop_column('verified_by_id')
        batch_op.drop_column('verified_at')
