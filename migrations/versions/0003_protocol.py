"""maintenance lease for the periodic purge; indexes on the expiry columns it deletes by

Revision ID: protocol
Revises: core
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'protocol'
down_revision = 'core'
branch_labels = None
depends_on = None

EXPIRY_INDEXES = [
    ('login_transaction', 'expires_at'),
    ('authorization_code', 'expires_at'),
    ('oauth_token', 'access_expires_at'),
    ('otp_challenge', 'expires_at'),
]


def upgrade() -> None:
    op.create_table('maintenance_lease',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('last_run_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_maintenance_lease'))
    )
    for table, column in EXPIRY_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)


def downgrade() -> None:
    for table, column in EXPIRY_INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
    op.drop_table('maintenance_lease')
