"""users: drop the indexes that only repeat another index's first column, or that no query reads (decision 66)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 21:45:00
"""
from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# customer_id leads every composite index of users, location_id the unique (location_id, extension), and
# users are only ever listed within a customer (customer_id, created, id).
DROPPED = {'ix_users_customer_id': ['customer_id'], 'ix_users_location_id': ['location_id'],
           'ix_users_created': ['created']}


def upgrade() -> None:
    for name in DROPPED:
        op.drop_index(name, table_name='users')


def downgrade() -> None:
    for name, columns in DROPPED.items():
        op.create_index(name, 'users', columns)
