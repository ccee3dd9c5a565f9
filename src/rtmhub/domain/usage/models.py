"""The ledger of package use (issue 11): who held which package of which customer, from when to when, and
what each customer's allocation was, from when to when. Rows are written in the same transaction as the
change they record and are never rewritten afterwards except to close them (``ended``), so every report and
chart read from them is exact by construction. They keep no foreign keys: the history outlives the users,
customers and partners it describes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime

# SQLite numbers rows only through INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
LEDGER_ID = BigInteger().with_variant(Integer(), "sqlite")


class PackageInterval(Base):
    """``user_id`` held ``package`` of ``customer_id`` from ``started`` until ``ended`` (None: still holds
    it). ``email`` is the user's address when the interval opened; ``partner_id`` the customer's partner."""

    __tablename__ = "package_intervals"
    __table_args__ = (
        Index("ix_package_intervals_user_open", "user_id", "ended"),
        Index("ix_package_intervals_customer", "customer_id", "package", "user_id", "started"),
        Index("ix_package_intervals_partner", "partner_id", "started"),
    )

    id: Mapped[int] = mapped_column(LEDGER_ID, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str] = mapped_column(String(161))
    package: Mapped[str] = mapped_column(String(40))
    started: Mapped[datetime] = mapped_column(UTCDateTime)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AllocationInterval(Base):
    """``customer_id`` had ``package`` with ``allocation`` units (None: unlimited) from ``started`` until
    ``ended``, under the name, external id and org id it then had: a report names a customer as the ledger
    knew it, so the same period always gives the same file, also after the customer is renamed or deleted."""

    __tablename__ = "allocation_intervals"
    __table_args__ = (
        Index("ix_allocation_intervals_customer", "customer_id", "package", "started"),
        Index("ix_allocation_intervals_partner", "partner_id", "started"),
    )

    id: Mapped[int] = mapped_column(LEDGER_ID, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    org_id: Mapped[str] = mapped_column(String(36))
    customer_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    package: Mapped[str] = mapped_column(String(40))
    allocation: Mapped[int | None] = mapped_column(Integer)
    started: Mapped[datetime] = mapped_column(UTCDateTime)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime)
