"""console: organisation branding (logo, display name, accent colour)

Revision ID: console
Revises: issuance
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'console'
down_revision = 'issuance'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisation_branding',
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('accent_colour', sa.String(length=7), nullable=True),
    sa.Column('logo_png', sa.LargeBinary(), nullable=True),
    sa.Column('logo_digest', sa.String(length=64), nullable=True),
    sa.Column('logo_width', sa.Integer(), nullable=True),
    sa.Column('logo_height', sa.Integer(), nullable=True),
    sa.Column('updated_at', idp.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                            name=op.f('fk_organisation_branding_organisation_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id', name=op.f('pk_organisation_branding'))
    )


def downgrade() -> None:
    op.drop_table('organisation_branding')
