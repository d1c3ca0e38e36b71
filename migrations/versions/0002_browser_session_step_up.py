"""browser_session.step_up_at: a recent re-proof for sensitive changes on Profile > Security

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import idp.models.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step_up_at', idp.models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_column('step_up_at')
