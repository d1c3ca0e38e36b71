"""one-time codes belong to exactly one challenge (otp_challenge.bound_to)

Revision ID: core
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'core'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('otp_challenge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bound_to', sa.String(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('otp_challenge', schema=None) as batch_op:
        batch_op.drop_column('bound_to')
