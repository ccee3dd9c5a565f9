"""audit events: partner_id and subject, filled for existing events; indexes for the audit log pages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 16:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000


def _subject(before: dict | None, after: dict | None) -> str | None:
    """As rtmhub.domain.audit.service.subject_of when this revision was written."""
    for snapshot in (after, before):
        if isinstance(snapshot, dict):
            for key in ("email", "admin", "name", "file"):
                value = snapshot.get(key)
                if isinstance(value, str) and value:
                    return value[:255]
    return None


def upgrade() -> None:
    # Plain ADD COLUMN: no table copy on SQLite.
    op.add_column('audit_events', sa.Column('partner_id', sa.String(length=36), nullable=True))
    op.add_column('audit_events', sa.Column('subject', sa.String(length=255), nullable=True))
    op.drop_index('ix_audit_events_customer_id', table_name='audit_events')
    op.create_index('ix_audit_events_customer_at', 'audit_events', ['customer_id', 'at'], unique=False)
    op.create_index('ix_audit_events_partner_at', 'audit_events', ['partner_id', 'at'], unique=False)
    bind = op.get_bind()
    events = sa.table('audit_events', sa.column('id', sa.String), sa.column('customer_id', sa.String),
                      sa.column('partner_id', sa.String), sa.column('entity_type', sa.String),
                      sa.column('entity_id', sa.String), sa.column('subject', sa.String),
                      sa.column('before', sa.JSON), sa.column('after', sa.JSON))
    customers = sa.table('customers', sa.column('id', sa.String), sa.column('partner_id', sa.String))
    templates = sa.table('onboarding_templates', sa.column('id', sa.String), sa.column('partner_id', sa.String))
    admins = sa.table('admin_accounts', sa.column('id', sa.String), sa.column('partner_id', sa.String))
    tokens = sa.table('api_tokens', sa.column('id', sa.String), sa.column('admin_id', sa.String))
    # partner_id: from the customer (if it still exists), else from the partner-level entity.
    bind.execute(events.update().where(events.c.customer_id.is_not(None)).values(partner_id=sa.select(
        customers.c.partner_id).where(customers.c.id == events.c.customer_id).scalar_subquery()))
    bind.execute(events.update().where(events.c.customer_id.is_(None), events.c.entity_type == 'partner')
                 .values(partner_id=events.c.entity_id))
    bind.execute(events.update().where(events.c.customer_id.is_(None), events.c.entity_type == 'template')
                 .values(partner_id=sa.select(templates.c.partner_id)
                         .where(templates.c.id == events.c.entity_id).scalar_subquery()))
    bind.execute(events.update().where(events.c.customer_id.is_(None), events.c.entity_type == 'admin')
                 .values(partner_id=sa.select(admins.c.partner_id)
                         .where(admins.c.id == events.c.entity_id).scalar_subquery()))
    bind.execute(events.update().where(events.c.customer_id.is_(None), events.c.entity_type == 'token')
                 .values(partner_id=sa.select(admins.c.partner_id).select_from(
                     tokens.join(admins, admins.c.id == tokens.c.admin_id))
                         .where(tokens.c.id == events.c.entity_id).scalar_subquery()))
    # subject: read from the snapshots, a batch at a time.
    last = ''
    while True:
        rows = bind.execute(sa.select(events.c.id, events.c.before, events.c.after).where(events.c.id > last)
                            .order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            break
        for event_id, before, after in rows:
            value = _subject(before, after)
            if value is not None:
                bind.execute(events.update().where(events.c.id == event_id).values(subject=value))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index('ix_audit_events_partner_at', table_name='audit_events')
    op.drop_index('ix_audit_events_customer_at', table_name='audit_events')
    op.create_index('ix_audit_events_customer_id', 'audit_events', ['customer_id'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('subject')
        batch_op.drop_column('partner_id')
