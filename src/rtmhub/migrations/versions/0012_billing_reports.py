"""billing reports and their stored CSV pieces (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 19:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'billing_reports',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('partner_id', sa.String(length=36), nullable=False),
        sa.Column('sub_partner_id', sa.String(length=36), nullable=True),
        sa.Column('report_type', sa.String(length=20), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=161), nullable=False),
        sa.Column('started', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('worker', sa.String(length=100), nullable=True),
        sa.Column('heartbeat', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('message', sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_billing_reports_partner_id_partners'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sub_partner_id'], ['partners.id'],
                                name=op.f('fk_billing_reports_sub_partner_id_partners'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_reports')),
    )
    op.create_index('ix_billing_reports_status_created', 'billing_reports', ['status', 'created'])
    op.create_index('ix_billing_reports_partner_start', 'billing_reports', ['partner_id', 'start_date'])
    op.create_index(op.f('ix_billing_reports_sub_partner_id'), 'billing_reports', ['sub_partner_id'])
    op.create_table(
        'billing_report_chunks',
        sa.Column('report_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['billing_reports.id'],
                                name=op.f('fk_billing_report_chunks_report_id_billing_reports'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('report_id', 'seq', name=op.f('pk_billing_report_chunks')),
    )


def downgrade() -> None:
    op.drop_table('billing_report_chunks')
    op.drop_index(op.f('ix_billing_reports_sub_partner_id'), table_name='billing_reports')
    op.drop_index('ix_billing_reports_partner_start', table_name='billing_reports')
    op.drop_index('ix_billing_reports_status_created', table_name='billing_reports')
    op.drop_table('billing_reports')
