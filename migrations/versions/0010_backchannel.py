"""back-channel logout: clients' backchannel_logout_uri; browser sessions' public sid (not the cookie value)

Revision ID: backchannel
Revises: console
"""
import hashlib

from alembic import op
import sqlalchemy as sa


revision = 'backchannel'
down_revision = 'console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backchannel_logout_uri', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('backchannel_logout_session_required', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_sid', sa.String(length=64), server_default='', nullable=False))
    # sessions of before: a digest of the cookie value (never the value itself), unique per session
    sessions = sa.table('browser_session', sa.column('id', sa.Integer), sa.column('sid', sa.String),
                        sa.column('public_sid', sa.String))
    connection = op.get_bind()
    for row_id, sid in connection.execute(sa.select(sessions.c.id, sessions.c.sid)).all():
        public = hashlib.sha256(b"public-sid:" + sid.encode()).hexdigest()[:43]
        connection.execute(sa.update(sessions).where(sessions.c.id == row_id).values(public_sid=public))
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_browser_session_public_sid'), ['public_sid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('browser_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_browser_session_public_sid'))
        batch_op.drop_column('public_sid')
    with op.batch_alter_table('oauth_client', schema=None) as batch_op:
        batch_op.drop_column('backchannel_logout_session_required')
        batch_op.drop_column('backchannel_logout_uri')
