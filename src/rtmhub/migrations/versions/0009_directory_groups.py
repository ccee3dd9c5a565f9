"""directory sync (SCIM): directory groups and members; users' external id, active flag and directory data

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:15:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of `users`).
    op.add_column('users', sa.Column('external_id', sa.String(length=255), nullable=True))
    op.add_column('users', sa.Column('user_name', sa.String(length=255), nullable=True))
    op.add_column('users', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('users', sa.Column('directory_number', sa.String(length=40), nullable=True))
    op.add_column('users', sa.Column('directory_data', sa.JSON(), nullable=True))
    op.create_index('ix_users_customer_external', 'users', ['customer_id', 'external_id'], unique=False)
    op.create_index('ix_users_user_name', 'users', ['user_name'], unique=False)
    op.create_table(
        'directory_groups',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('display_name', sa.String(length=256), nullable=False),
        sa.Column('display_key', sa.String(length=256), nullable=False),
        sa.Column('external_id', sa.String(length=255), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('customer_id', 'display_key'),
    )
    op.create_index('ix_directory_groups_customer_id', 'directory_groups', ['customer_id'], unique=False)
    op.create_table(
        'directory_group_members',
        sa.Column('group_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('joined', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['directory_groups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_id', 'user_id'),
    )
    op.create_index('ix_directory_group_members_user', 'directory_group_members', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_directory_group_members_user', table_name='directory_group_members')
    op.drop_table('directory_group_members')
    op.drop_index('ix_directory_groups_customer_id', table_name='directory_groups')
    op.drop_table('directory_groups')
    op.drop_index('ix_users_user_name', table_name='users')
    op.drop_index('ix_users_customer_external', table_name='users')
    for column in ('directory_data', 'directory_number', 'active', 'user_name', 'external_id'):
        op.drop_column('users', column)
