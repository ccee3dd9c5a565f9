from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid, short

PROVISIONING_STATES = ("active", "suspended")


class Partner(Base):
    """A service provider org; with ``parent_id`` set it is a sub-partner of that partner."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"), index=True)
    provisioning_state: Mapped[str] = mapped_column(String(20), default="active")
    subscription_id: Mapped[str] = mapped_column(String(64), default=lambda: "Sub" + short(new_uuid()))
    billing_start_date: Mapped[date | None] = mapped_column(Date)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OnboardingTemplate(Base):
    """Partner-level customer defaults; its ``provisioning_id`` is what the API asks for (W4)."""

    __tablename__ = "onboarding_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(10), default="en")
    provisioning_id: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
