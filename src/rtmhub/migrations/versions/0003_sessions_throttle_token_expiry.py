"""web sessions, sign-in failures, token expiry and last use

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('admin_id', sa.String(length=36), nullable=False),
        sa.Column('created', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['admin_id'], ['admin_accounts.id'],
                                name=op.f('fk_web_sessions_admin_id_admin_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    )
    op.create_index(op.f('ix_web_sessions_admin_id'), 'web_sessions', ['admin_id'], unique=False)
    op.create_table(
        'sign_in_failures',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('at', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures')),
    )
    op.create_index('ix_sign_in_failures_key_at', 'sign_in_failures', ['key', 'at'], unique=False)
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('expires', rtmhub.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('last_used', rtmhub.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('last_used')
        batch.drop_column('expires')
    op.drop_index('ix_sign_in_failures_key_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    op.drop_index(op.f('ix_web_sessions_admin_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
