"""browser sessions remember why they still satisfy the person's policy (remembered browser, kept session)

Revision ID: issuance
Revises: lockout
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = 'issuance'
down_revision = 'lockout'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remembered_browser_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('kept_at', idp.models.base.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_browser_session_remembered_browser_id_remembered_browser'),
                                    'remembered_browser', ['remembered_browser_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_browser_session_remembered_browser_id_remembered_browser'),
                                 type_='foreignkey')
        batch_op.drop_column('kept_at')
        batch_op.drop_column('remembered_browser_id')
