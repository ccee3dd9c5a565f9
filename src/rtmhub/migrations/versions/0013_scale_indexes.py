"""indexes for lists read in their sort order at 1,000,000 users (issue 12)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SUBSCRIBER = sa.text('package IS NOT NULL')


def upgrade() -> None:
    op.drop_index('ix_users_customer_package', table_name='users')
    op.create_index('ix_users_customer_package', 'users', ['customer_id', 'package', 'created', 'id'])
    op.create_index('ix_users_customer_created', 'users', ['customer_id', 'created', 'id'])
    op.create_index('ix_users_subscribers', 'users', ['package_assigned', 'id', 'customer_id'],
                    postgresql_where=SUBSCRIBER, sqlite_where=SUBSCRIBER)
    op.create_index('ix_users_customer_subscribers', 'users', ['customer_id', 'package_assigned', 'id'],
                    postgresql_where=SUBSCRIBER, sqlite_where=SUBSCRIBER)
    op.create_index('ix_customers_partner_created', 'customers', ['partner_id', 'created', 'id'])
    op.create_index('ix_users_customer_base', 'users',
                    ['customer_id', 'basic_messaging', 'basic_space_meetings', 'call_on_webex'])
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_users_customer_display_key', 'users',
                        ['customer_id', sa.func.lower(sa.column('display_name')).label('key')],
                        postgresql_ops={'key': 'varchar_pattern_ops'})


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_users_customer_display_key', table_name='users')
    op.drop_index('ix_users_customer_base', table_name='users')
    op.drop_index('ix_customers_partner_created', table_name='customers')
    op.drop_index('ix_users_customer_subscribers', table_name='users')
    op.drop_index('ix_users_subscribers', table_name='users')
    op.drop_index('ix_users_customer_created', table_name='users')
    op.drop_index('ix_users_customer_package', table_name='users')
    op.create_index('ix_users_customer_package', 'users', ['customer_id', 'package'])
