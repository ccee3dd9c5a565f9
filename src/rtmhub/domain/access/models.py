from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid

ROLES = ("partner_full_admin", "partner_readonly_admin", "customer_full_admin")


class AdminAccount(Base):
    __tablename__ = "admin_accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(161))
    email_key: Mapped[str] = mapped_column(String(161), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"), index=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """Bearer token; only a SHA-256 digest is stored (the token itself has 256 bits of entropy)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    admin_id: Mapped[str] = mapped_column(ForeignKey("admin_accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)
