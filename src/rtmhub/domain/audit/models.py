from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # The audit log pages list one customer's or one partner tree's events, newest first (decision 29); a
    # revert reads the events one task wrote (request_id = the task's id) user by user (decision 27).
    __table_args__ = (Index("ix_audit_events_customer_at", "customer_id", "at"),
                      Index("ix_audit_events_partner_at", "partner_id", "at"),
                      Index("ix_audit_events_request_entity", "request_id", "entity_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(161))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    # The partner whose tree the event belongs to: the customer's partner, or for partner-level events
    # (partner.*, template.*, a partner admin's admin.*/token.*) that partner. Kept when a customer goes.
    partner_id: Mapped[str | None] = mapped_column(String(36))
    # Who or what the event is about, in words (a user's or admin's e-mail, a location's name, …), so the
    # log can be filtered by it without reading JSON.
    subject: Mapped[str | None] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
