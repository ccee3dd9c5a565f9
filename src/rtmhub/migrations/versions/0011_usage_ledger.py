"""ledger of package use: package and allocation intervals, opened for what is held today (issue 11)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 19:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'package_intervals',
        sa.Column('id', LEDGER_ID, autoincrement=True, nullable=False),
        sa.Column('partner_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=161), nullable=False),
        sa.Column('package', sa.String(length=40), nullable=False),
        sa.Column('started', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_package_intervals')),
    )
    op.create_index('ix_package_intervals_user_open', 'package_intervals', ['user_id', 'ended'])
    op.create_index('ix_package_intervals_customer', 'package_intervals',
                    ['customer_id', 'package', 'user_id', 'started'])
    op.create_index('ix_package_intervals_partner', 'package_intervals', ['partner_id', 'started'])
    op.create_table(
        'allocation_intervals',
        sa.Column('id', LEDGER_ID, autoincrement=True, nullable=False),
        sa.Column('partner_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('org_id', sa.String(length=36), nullable=False),
        sa.Column('customer_name', sa.String(length=255), nullable=False),
        sa.Column('external_id', sa.String(length=255), nullable=False),
        sa.Column('package', sa.String(length=40), nullable=False),
        sa.Column('allocation', sa.Integer(), nullable=True),
        sa.Column('started', rtmhub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended', rtmhub.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_intervals')),
    )
    op.create_index('ix_allocation_intervals_customer', 'allocation_intervals', ['customer_id', 'package', 'started'])
    op.create_index('ix_allocation_intervals_partner', 'allocation_intervals', ['partner_id', 'started'])
    # What is held today opens an interval: a user's since it got its package (package_assigned, or its creation
    # when that is unknown), a customer's allocation since the package was added.
    op.execute(
        "INSERT INTO package_intervals (partner_id, customer_id, user_id, email, package, started, ended) "
        "SELECT c.partner_id, u.customer_id, u.id, u.email, u.package, COALESCE(u.package_assigned, u.created), NULL "
        "FROM users u JOIN customers c ON c.id = u.customer_id WHERE u.package IS NOT NULL")
    op.execute(
        "INSERT INTO allocation_intervals (partner_id, customer_id, org_id, customer_name, external_id, package, "
        "allocation, started, ended) "
        "SELECT c.partner_id, c.id, c.org_id, c.name, c.external_id, p.package, p.allocation, p.created, NULL "
        "FROM customer_packages p JOIN customers c ON c.id = p.customer_id")


def downgrade() -> None:
    op.drop_table('allocation_intervals')
    op.drop_table('package_intervals')
