"""Queries on billing reports and their stored pieces. Every read of reports takes the visibility condition
the service derives from the caller; nothing here decides who sees what."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from rtmhub.domain.billing.models import BillingReport, BillingReportChunk
from rtmhub.domain.billing.schemas import ReportFilter

_ORDER: dict[str, tuple[Any, ...]] = {
    "billingStartDate": (BillingReport.start_date, BillingReport.end_date, BillingReport.created),
    "billingEndDate": (BillingReport.end_date, BillingReport.start_date, BillingReport.created),
    "status": (BillingReport.status, BillingReport.start_date, BillingReport.created),
    "id": (),
}


def filtered(visible: Any, flt: ReportFilter, sub_tree: tuple[str, ...] | None) -> Select:
    stmt = select(BillingReport).where(visible)
    if flt.start is not None:
        stmt = stmt.where(BillingReport.start_date == flt.start)
    if flt.end is not None:
        stmt = stmt.where(BillingReport.end_date == flt.end)
    if flt.report_type is not None:
        stmt = stmt.where(BillingReport.report_type == flt.report_type)
    if flt.status is not None:
        stmt = stmt.where(BillingReport.status == flt.status)
    if sub_tree is not None:
        # The reports about that sub-partner's customers: those narrowed to it (or to one of its own
        # sub-partners), and those its own administrators made for their whole tree.
        stmt = stmt.where(func.coalesce(BillingReport.sub_partner_id, BillingReport.partner_id).in_(sub_tree))
    return stmt


def page(session: Session, stmt: Select, sort_by: str, offset: int, limit: int) -> list[BillingReport]:
    # The id last: a stable order, so pages neither repeat nor skip a report.
    return list(session.scalars(stmt.order_by(*_ORDER[sort_by], BillingReport.id).offset(offset).limit(limit)))


def count(session: Session, stmt: Select) -> int:
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def chunk(session: Session, report_id: str, seq: int) -> bytes | None:
    data = session.scalar(select(BillingReportChunk.data).where(BillingReportChunk.report_id == report_id,
                                                                BillingReportChunk.seq == seq))
    return None if data is None else bytes(data)


def drop_chunks(session: Session, report_id: str) -> None:
    session.execute(delete(BillingReportChunk).where(BillingReportChunk.report_id == report_id))


def add_chunk(session: Session, report_id: str, seq: int, data: bytes) -> None:
    # Core INSERT: an ORM object per piece would stay in the session (and in memory) until it ends.
    session.execute(insert(BillingReportChunk).values(report_id=report_id, seq=seq, data=data))


def chunk_count(session: Session, report_id: str) -> int:
    return session.scalar(select(func.count()).where(BillingReportChunk.report_id == report_id)) or 0


def runnable(stale: datetime) -> Any:
    """A report a worker may take: waiting for one, or held by one that stopped renewing its lease."""
    return and_(BillingReport.status == "IN_PROGRESS",
                or_(BillingReport.worker.is_(None), BillingReport.heartbeat < stale))
