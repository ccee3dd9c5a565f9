"""directory sync state, group -> package mappings, waiting members, sync events (issue 10 items 3-5)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 17:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'directory_syncs',
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('enabled_at', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('enabled_by', sa.String(length=161), nullable=True),
        sa.Column('account_id', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['admin_accounts.id'],
                                name=op.f('fk_directory_syncs_account_id_admin_accounts'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_directory_syncs_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_directory_syncs')),
    )
    op.create_table(
        'directory_group_mappings',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('group_id', sa.String(length=36), nullable=False),
        sa.Column('package', sa.String(length=40), nullable=False),
        sa.Column('location_id', sa.String(length=36), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('created', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_directory_group_mappings_customer_id_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['group_id'], ['directory_groups.id'],
                                name=op.f('fk_directory_group_mappings_group_id_directory_groups'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_directory_group_mappings_location_id_locations'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_group_mappings')),
        sa.UniqueConstraint('customer_id', 'group_id', name=op.f('uq_directory_group_mappings_customer_id_group_id')),
    )
    op.create_index(op.f('ix_directory_group_mappings_customer_id'), 'directory_group_mappings', ['customer_id'],
                    unique=False)
    op.create_table(
        'directory_assignments',
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('package', sa.String(length=40), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('since', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_directory_assignments_customer_id_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_directory_assignments_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_directory_assignments')),
    )
    op.create_index('ix_directory_assignments_customer_state', 'directory_assignments',
                    ['customer_id', 'state', 'since'], unique=False)
    op.create_table(
        'directory_sync_events',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('at', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('operation', sa.String(length=60), nullable=False),
        sa.Column('user_email', sa.String(length=161), nullable=True),
        sa.Column('result', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_directory_sync_events_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_sync_events')),
    )
    op.create_index('ix_directory_sync_events_customer_at', 'directory_sync_events', ['customer_id', 'at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_directory_sync_events_customer_at', table_name='directory_sync_events')
    op.drop_table('directory_sync_events')
    op.drop_index('ix_directory_assignments_customer_state', table_name='directory_assignments')
    op.drop_table('directory_assignments')
    op.drop_index(op.f('ix_directory_group_mappings_customer_id'), table_name='directory_group_mappings')
    op.drop_table('directory_group_mappings')
    op.drop_table('directory_syncs')
