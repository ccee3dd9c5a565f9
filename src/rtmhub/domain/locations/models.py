from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    address1: Mapped[str] = mapped_column(String(255))
    address2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    preferred_language: Mapped[str] = mapped_column(String(10), default="en_us")
    announcement_language: Mapped[str] = mapped_column(String(10), default="en_us")
    emergency_location_identifier: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[str | None] = mapped_column(String(32))
    longitude: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
