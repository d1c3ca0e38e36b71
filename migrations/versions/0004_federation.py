"""federation: upstream key sets shared by the fleet (JWKS refetch at most once a minute per provider)

Revision ID: federation
Revises: protocol
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'federation'
down_revision = 'protocol'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('upstream_key_set',
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('jwks_uri', sa.String(length=500), nullable=False),
    sa.Column('keys', sa.JSON(), nullable=False),
    sa.Column('fetched_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('refetched_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('provider', name=op.f('pk_upstream_key_set'))
    )


def downgrade() -> None:
    op.drop_table('upstream_key_set')
