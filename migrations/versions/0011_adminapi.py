"""adminapi: administration API scopes granted to clients, and client credentials access tokens

Revision ID: adminapi
Revises: backchannel
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'adminapi'
down_revision = 'backchannel'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_api_scope',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_client.id'],
                            name=op.f('fk_client_api_scope_client_pk_oauth_client'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_api_scope')),
    sa.UniqueConstraint('client_pk', 'scope', name=op.f('uq_client_api_scope_client_pk'))
    )
    with op.batch_alter_table('client_api_scope', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_api_scope_client_pk'), ['client_pk'], unique=False)

    op.create_table('client_access_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('expires_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_client.id'],
                            name=op.f('fk_client_access_token_client_pk_oauth_client'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_access_token')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_client_access_token_token_digest'))
    )
    with op.batch_alter_table('client_access_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_access_token_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_client_access_token_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('client_access_token')
    op.drop_table('client_api_scope')
