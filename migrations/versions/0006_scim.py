"""SCIM 2.0 provisioning: tokens, the SCIM view of accounts, SCIM groups

Revision ID: scim
Revises: delivery
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'scim'
down_revision = 'delivery'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scim_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('last_used_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', idp.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_scim_token_organisation_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_token')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_scim_token_token_digest'))
    )
    with op.batch_alter_table('scim_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_token_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('scim_user',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_scim_user_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_scim_user_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_scim_user'))
    )
    with op.batch_alter_table('scim_user', schema=None) as batch_op:
        batch_op.create_index('ix_scim_user_org_external_id', ['organisation_id', 'external_id'], unique=False)

    op.create_table('scim_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scim_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_scim_group_organisation_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_group')),
    sa.UniqueConstraint('organisation_id', 'display_name', name=op.f('uq_scim_group_organisation_id')),
    sa.UniqueConstraint('scim_id', name=op.f('uq_scim_group_scim_id'))
    )
    with op.batch_alter_table('scim_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_group_organisation_id'), ['organisation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scim_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_group_organisation_id'))
    op.drop_table('scim_group')
    with op.batch_alter_table('scim_user', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_user_org_external_id')
    op.drop_table('scim_user')
    with op.batch_alter_table('scim_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_token_organisation_id'))
    op.drop_table('scim_token')
