"""rate_limit_bucket: fixed-window rate-limit counters shared by every worker (idp.ratelimit)

Revision ID: 0003_rate_limit
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = '0003_rate_limit'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rate_limit_bucket',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('window_start', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('expires_at', idp.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_limit_bucket')),
    )
    with op.batch_alter_table('rate_limit_bucket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_bucket_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_limit_bucket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_bucket_expires_at'))
    op.drop_table('rate_limit_bucket')
