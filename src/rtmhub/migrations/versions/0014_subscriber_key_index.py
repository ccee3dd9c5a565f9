"""PostgreSQL: a narrow index of the subscribers' sort key, for the first key of a deep page (decision 65)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 21:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_users_subscriber_key', 'users', ['package_assigned', 'id'],
                        postgresql_where=sa.text('package IS NOT NULL'))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_users_subscriber_key', table_name='users')
