"""Directory sync state of an organisation, its group -> package mappings, the members waiting for a unit,
and the sync event log (issue 10 items 3-5). The groups and memberships themselves are in ``models.py``."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid


class DirectorySync(Base):
    """Whether an organisation's users come from its directory (R12), since when and by whom. ``account_id``
    is the organisation's directory account: the administrator account its SCIM tokens act as (role
    ``directory``; it has no password and names the directory in the audit log)."""

    __tablename__ = "directory_syncs"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled_by: Mapped[str | None] = mapped_column(String(161))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("admin_accounts.id", ondelete="SET NULL"))


class GroupMapping(Base):
    """Members of the directory group ``group_id`` get ``package`` (at ``location_id`` for a calling
    package); of two mapped groups of one user the higher ``priority`` wins."""

    __tablename__ = "directory_group_mappings"
    __table_args__ = (UniqueConstraint("customer_id", "group_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("directory_groups.id", ondelete="CASCADE"))
    package: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectoryAssignment(Base):
    """The package a member of a mapped group is to hold: ``granted`` (it holds it because of the mapping,
    so leaving the group takes it away) or ``waiting`` (allocation full, calling data missing, or refused):
    the worker gives waiting members the package in ``since`` (joined) order when units free up."""

    __tablename__ = "directory_assignments"
    __table_args__ = (Index("ix_directory_assignments_customer_state", "customer_id", "state", "since"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    package: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))  # "granted" or "waiting"
    reason: Mapped[str] = mapped_column(String(40))  # "ok", "full", "calling_data", "refused"
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncEvent(Base):
    """One directory write (SCIM) or package decision, for the directory page and status."""

    __tablename__ = "directory_sync_events"
    __table_args__ = (Index("ix_directory_sync_events_customer_at", "customer_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    operation: Mapped[str] = mapped_column(String(60))
    user_email: Mapped[str | None] = mapped_column(String(161))
    result: Mapped[str] = mapped_column(String(20))  # "ok", "error", "waiting"
    reason: Mapped[str | None] = mapped_column(Text)
