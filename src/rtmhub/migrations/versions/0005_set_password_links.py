"""one-time set-password links of administrator accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'set_password_links',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('admin_id', sa.String(length=36), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['admin_id'], ['admin_accounts.id'],
                                name=op.f('fk_set_password_links_admin_id_admin_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_set_password_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_set_password_links_token_hash')),
    )
    op.create_index(op.f('ix_set_password_links_admin_id'), 'set_password_links', ['admin_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_set_password_links_admin_id'), table_name='set_password_links')
    op.drop_table('set_password_links')
