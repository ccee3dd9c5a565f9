"""file-level notices on a task (columns of the file that were recognised and ignored)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of `tasks`: that would cascade to its rows, see 0004).
    op.add_column('tasks', sa.Column('notices', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('tasks', 'notices')  # plain DROP COLUMN (SQLite 3.35+), as in 0004
