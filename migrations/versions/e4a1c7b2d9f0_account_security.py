"""users.email_verified_at, session_version, email_opt_outs: confirmed email, sessions that
end, email preferences; audit_log indexes for the admins' audit log page

Revision ID: e4a1c7b2d9f0
Revises: 7d3e51c0a8b2
Create Date: 2026-12-02 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4a1c7b2d9f0'
down_revision = '7d3e51c0a8b2'
branch_labels = None
depends_on = None


def upgrade():
    # Server defaults fill existing rows, then go: the model defaults in Python.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('email_opt_outs', sa.JSON(), nullable=False, server_default='[]')
        )
    # People who signed up before verification existed would otherwise be locked out: their
    # addresses count as verified from when they joined.
    op.execute('UPDATE users SET email_verified_at = created_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('session_version', server_default=None)
        batch_op.alter_column('email_opt_outs', server_default=None)
    op.create_index('ix_audit_log_action_at', 'audit_log', ['action', 'at'])
    op.create_index('ix_audit_log_user_at', 'audit_log', ['user_id', 'at'])


def downgrade():
    op.drop_index('ix_audit_log_user_at', table_name='audit_log')
    op.drop_index('ix_audit_log_action_at', table_name='audit_log')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_opt_outs')
        batch_op.drop_column('session_version')
        batch_op.drop_column('email_verified_at')
