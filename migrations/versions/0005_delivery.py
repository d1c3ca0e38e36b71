"""outbox_job: the outbound job queue (email, SMS, HTTP deliveries sent after the request)

Revision ID: delivery
Revises: federation
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'delivery'
down_revision = 'federation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('lease_until', idp.models.base.UTCDateTime(), nullable=True),
    sa.Column('lease_token', sa.String(length=64), nullable=True),
    sa.Column('finished_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_job'))
    )
    with op.batch_alter_table('outbox_job', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_job_due', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_job', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_job_due')
    op.drop_table('outbox_job')
