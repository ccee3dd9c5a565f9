"""reverts of imports: the task a revert undoes, and the audit events of one task found by index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reverts_task_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_reverts_task_id'), ['reverts_task_id'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_request_entity', ['request_id', 'entity_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_request_entity')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tasks_reverts_task_id'))
        batch_op.drop_column('reverts_task_id')
