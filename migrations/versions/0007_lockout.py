"""lockout: failed-attempt counters per account and client; idle limit of browser sessions

Revision ID: lockout
Revises: scim
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'lockout'
down_revision = 'scim'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attempt_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_success_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.Column('updated_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempt_counter')),
    sa.UniqueConstraint('key', name=op.f('uq_attempt_counter_key'))
    )
    with op.batch_alter_table('attempt_counter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempt_counter_account_key'), ['account_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_attempt_counter_updated_at'), ['updated_at'], unique=False)
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        # existing sessions get the default idle limit; new ones the configured one
        batch_op.add_column(sa.Column('idle_minutes', sa.Integer(), nullable=False, server_default='30'))
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.alter_column('idle_minutes', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_column('idle_minutes')
    with op.batch_alter_table('attempt_counter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempt_counter_updated_at'))
        batch_op.drop_index(batch_op.f('ix_attempt_counter_account_key'))
    op.drop_table('attempt_counter')
