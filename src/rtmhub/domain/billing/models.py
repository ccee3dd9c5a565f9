"""Billing reports (upstream W7, R50–R52) and their stored CSV, kept in pieces like task files."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid

REPORT_STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED")
# One stored piece of a report's CSV: making or downloading a report holds about this much in memory, whatever
# the report's size (a USER report of a large partner is hundreds of megabytes).
CHUNK_BYTES = 1_048_576


class BillingReport(Base):
    """A report a partner asked for. ``partner_id`` is the partner whose administrator asked (the tenancy of
    the row: that partner's tree sees it); ``sub_partner_id`` narrows the content to one sub-partner's tree.
    A worker makes it: ``worker``/``heartbeat`` are its lease, so a report whose worker died is made again by
    another, from the start."""

    __tablename__ = "billing_reports"
    __table_args__ = (Index("ix_billing_reports_status_created", "status", "created"),
                      Index("ix_billing_reports_partner_start", "partner_id", "start_date"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    sub_partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    report_type: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="IN_PROGRESS")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(161))
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    # Bytes of CSV stored so far (the progress of an IN_PROGRESS report), the file's size once COMPLETED.
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str | None] = mapped_column(String(1000))


class BillingReportChunk(Base):
    """One piece of a report's CSV, in the database so any app process can serve a report any worker made.
    A report's pieces are written one short transaction each while it is made and served only once the
    report is COMPLETED; a failed or taken-over report's pieces are deleted."""

    __tablename__ = "billing_report_chunks"

    report_id: Mapped[str] = mapped_column(ForeignKey("billing_reports.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
