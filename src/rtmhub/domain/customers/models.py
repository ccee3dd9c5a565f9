from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid

CUSTOMER_STATUSES = (
    "provisioned", "provisioned_with_errors", "provisioning", "updating", "deleting", "error",
    "pending_rpl_review",
)


class Customer(Base):
    """A customer organisation together with its wholesale customer record (one row, two ids)."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("partner_id", "external_id"),
        # The customer list in its order, for a partner; a deep page's first key from the index alone.
        Index("ix_customers_partner_created", "partner_id", "created", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    org_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    template_id: Mapped[str | None] = mapped_column(ForeignKey("onboarding_templates.id"))
    name: Mapped[str] = mapped_column(String(255))
    primary_email: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(10), default="en")
    address_line1: Mapped[str] = mapped_column(String(50))
    address_line2: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str] = mapped_column(String(50))
    state_or_province: Mapped[str | None] = mapped_column(String(50))
    zip_or_postal_code: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str] = mapped_column(String(2))
    external_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30), default="provisioned", index=True)
    meetings_timezone: Mapped[str | None] = mapped_column(String(64))
    preferred_site_url: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CustomerPackage(Base):
    """One package (or base licence) a customer bought, with its allocation and use (D3).

    ``used`` is changed only by a conditional UPDATE in the same transaction as the user change,
    so two concurrent assignments can never both take the last unit. The row id is the licence id.
    """

    __tablename__ = "customer_packages"
    __table_args__ = (UniqueConstraint("customer_id", "package"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    package: Mapped[str] = mapped_column(String(40))
    allocation: Mapped[int | None] = mapped_column(Integer)  # None = unlimited
    used: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="provisioned")
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeetingSite(Base):
    __tablename__ = "meeting_sites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(255), unique=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
