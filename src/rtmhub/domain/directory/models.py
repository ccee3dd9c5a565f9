"""Directory groups (pushed by an identity provider over SCIM) and their members."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid


class DirectoryGroup(Base):
    """A group of one customer's directory. Display names are unique per customer, case-insensitively."""

    __tablename__ = "directory_groups"
    __table_args__ = (UniqueConstraint("customer_id", "display_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(256))
    display_key: Mapped[str] = mapped_column(String(256))  # lower-cased display name
    external_id: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectoryGroupMember(Base):
    """A user's membership of a directory group; ``joined`` orders who waits first for a unit."""

    __tablename__ = "directory_group_members"
    __table_args__ = (Index("ix_directory_group_members_user", "user_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("directory_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
