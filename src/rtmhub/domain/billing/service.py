"""Billing reports (W7, R50–R52): asking for one, listing, reading, deleting, the signed download link, and
the steps a worker takes to make one. Services never commit; the worker's steps are each one unit of work
of the task runner (``rtmhub.jobs.billing``).

Tenancy: a report belongs to the partner whose administrator asked for it; that partner's tree (the partner
and its sub-partners) sees it, so a parent sees its sub-partners' reports and a sub-partner only its own.
Customer administrators have no billing reports at all."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, true
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.billing import repository
from rtmhub.domain.billing.models import BillingReport
from rtmhub.domain.billing.schemas import (
    DOWNLOAD_SECONDS,
    ReportFilter,
    check_period,
    check_sort,
    check_status,
    check_type,
)
from rtmhub.domain.partners.models import Partner
from rtmhub.errors import Conflict, Forbidden, NotFound, ValidationFailed, msg

REPORT_NOT_FOUND = msg("Billing report not found; check the report id.")
SUB_PARTNER_NOT_FOUND = msg("Sub-partner not found; check subPartnerOrgId (the orgId of one of your sub-partners).")
DOWNLOAD_PATH = "/v1/wholesale/billing/reports/{id}/download"


# --- who may do what ---------------------------------------------------------------------------

def _require_partner(caller: Caller) -> None:
    if not caller.is_partner:
        raise Forbidden(msg("Billing reports are for partner administrators; a customer administrator cannot "
                            "use them."))


def _require_writer(caller: Caller) -> None:
    _require_partner(caller)
    if caller.read_only:
        raise Forbidden(msg("A read-only administrator cannot create or delete billing reports; ask a full "
                            "administrator."))


def _visible(caller: Caller) -> Any:
    """The reports ``caller`` sees: those its partner tree asked for (the operator sees all)."""
    if caller.system:
        return true()
    return BillingReport.partner_id.in_(caller.partner_ids)


def _owner(session: Session, caller: Caller, partner_id: str | None) -> Partner:
    """The partner a new report belongs to: the caller's own; only the operator names one."""
    if not caller.system:
        if partner_id not in (None, caller.partner_id):
            raise Forbidden(msg("A partner administrator makes reports for its own partner only."))
        partner_id = caller.partner_id
    partner = session.get(Partner, partner_id) if partner_id else None
    if partner is None:
        raise ValidationFailed(msg("Name the partner the report is for."))
    return partner


def _sub_partner(session: Session, caller: Caller, raw_id: str, within: tuple[str, ...] | None) -> Partner:
    """One of the caller's sub-partners (and, when ``within`` is given, one in that tree); unknown and foreign
    ids answer the same 404, as ``onBehalfOfSubPartnerOrgId`` does on the other wholesale endpoints."""
    partner = session.scalar(access.scope_partners(
        select(Partner).where(Partner.id == raw_id, Partner.parent_id.is_not(None)), caller))
    if partner is None or (within is not None and partner.id not in within):
        raise NotFound(SUB_PARTNER_NOT_FOUND)
    return partner


# --- asking, listing, reading, deleting --------------------------------------------------------

def create_report(session: Session, caller: Caller, *, start: date, end: date, report_type: str | None = "PARTNER",
                  sub_partner_org_id: str | None = None, internal: bool = False, partner_id: str | None = None,
                  today: date | None = None) -> BillingReport:
    """A new IN_PROGRESS report, which a worker makes. ``sub_partner_org_id`` is a sub-partner's raw id (the
    edge decodes the public orgId): the report then covers that sub-partner's customers only. ``partner_id``
    is for the operator, who names the partner; a partner administrator's reports are its partner's."""
    _require_writer(caller)
    kind = check_type(report_type)
    check_period(start, end, today or utcnow().date())
    owner = _owner(session, caller, partner_id)
    sub = None
    if sub_partner_org_id is not None:
        sub = _sub_partner(session, caller, sub_partner_org_id, access.partner_tree(session, owner.id))
    report = BillingReport(partner_id=owner.id, sub_partner_id=sub.id if sub and sub.id != owner.id else None,
                           report_type=kind, start_date=start, end_date=end, internal=bool(internal),
                           status="IN_PROGRESS", created=utcnow(), created_by=caller.actor, lines=0, bytes=0)
    session.add(report)
    session.flush()
    return report


def _selection(session: Session, caller: Caller, flt: ReportFilter) -> Select:
    _require_partner(caller)
    check_status(flt.status)
    if flt.report_type is not None:
        check_type(flt.report_type)
    tree = None
    if flt.sub_partner_id is not None:
        tree = access.partner_tree(session, _sub_partner(session, caller, flt.sub_partner_id, None).id)
    return repository.filtered(_visible(caller), flt, tree)


def list_reports(session: Session, caller: Caller, *, start: date | None = None, end: date | None = None,
                 report_type: str | None = None, status: str | None = None, sub_partner_org_id: str | None = None,
                 sort_by: str | None = "billingStartDate", offset: int = 0, limit: int = 100) -> list[BillingReport]:
    """R51: the reports the caller sees, filtered and sorted (``id``, ``billingStartDate`` (default),
    ``billingEndDate`` or ``status``, ties by creation); a page of at most ``limit``."""
    flt = ReportFilter(start, end, report_type, status, sub_partner_org_id)
    return repository.page(session, _selection(session, caller, flt), check_sort(sort_by), max(0, offset),
                           max(0, limit))


def count_reports(session: Session, caller: Caller, *, start: date | None = None, end: date | None = None,
                  report_type: str | None = None, status: str | None = None,
                  sub_partner_org_id: str | None = None) -> int:
    """How many reports ``list_reports`` would page through with the same filters."""
    flt = ReportFilter(start, end, report_type, status, sub_partner_org_id)
    return repository.count(session, _selection(session, caller, flt))


def get_report(session: Session, caller: Caller, report_id: str) -> BillingReport:
    """A report the caller sees (raw id); unknown and foreign ids answer the same 404."""
    _require_partner(caller)
    report = session.scalar(select(BillingReport).where(BillingReport.id == report_id, _visible(caller)))
    if report is None:
        raise NotFound(REPORT_NOT_FOUND)
    return report


def delete_report(session: Session, caller: Caller, report_id: str) -> None:
    """Delete a report and its file. A report still IN_PROGRESS is cancelled this way: its worker finds the
    row gone at its next piece and stops (decision 34)."""
    _require_writer(caller)
    report = get_report(session, caller, report_id)
    repository.drop_chunks(session, report.id)
    session.delete(report)
    session.flush()


def read_content(session: Session, report: BillingReport) -> Iterator[bytes]:
    """A COMPLETED report's CSV, one stored piece at a time."""
    require_completed(report)
    seq = 0
    while (data := repository.chunk(session, report.id, seq)) is not None:
        yield data
        seq += 1


def content_chunk(session: Session, report_id: str, seq: int) -> bytes | None:
    """Piece ``seq`` of a report's CSV (None after the last): a download may read each in a short unit."""
    return repository.chunk(session, report_id, seq)


def require_completed(report: BillingReport) -> None:
    if report.status == "IN_PROGRESS":
        raise Conflict(msg("The billing report is still being made; try again when its status is COMPLETED."))
    if report.status == "FAILED":
        raise Conflict(msg("The billing report failed, so it has no file: {reason} Create it again.",
                           reason=report.message or ""))


def file_name(report: BillingReport) -> str:
    return (f"billing-{report.report_type.lower()}-{report.start_date.isoformat()}-{report.end_date.isoformat()}"
            ".csv")


# --- the temporary download link ----------------------------------------------------------------

def _signing_key(secret: str | None) -> bytes:
    if secret is None:
        from rtmhub.settings import get_settings  # here: the domain reads settings only when not given them

        secret = get_settings().secret_key
    # A key of its own, derived from the app secret: a download signature can never be a session signature.
    return hmac.new(secret.encode(), b"rtmhub billing report download", hashlib.sha256).digest()


def _signature(report_id: str, expires: int, secret: str | None) -> str:
    digest = hmac.new(_signing_key(secret), f"{report_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed_download_path(report: BillingReport, now: datetime, secret: str | None = None) -> str:
    """The path (under the public base URL) that serves a COMPLETED report's CSV without a token for an hour:
    the report id and the expiry signed with HMAC-SHA256 under a key derived from the app secret."""
    expires = int(now.timestamp()) + DOWNLOAD_SECONDS
    path = DOWNLOAD_PATH.format(id=ids.encode("BILLING_REPORT", report.id))
    return f"{path}?Expires={expires}&Signature={_signature(report.id, expires, secret)}"


def verify_download(session: Session, report_id: str, expires: str | int | None, signature: str | None,
                    now: datetime, secret: str | None = None) -> BillingReport:
    """The report a download link names, if its signature is right and it has not expired (403 otherwise,
    checked before the database is read); a report deleted since is a 404."""
    try:
        expiry = int(str(expires))
    except ValueError:
        expiry = None
    expected = _signature(report_id, expiry, secret) if expiry is not None else ""
    if expiry is None or not hmac.compare_digest(expected.encode(), (signature or "").encode()):
        raise Forbidden(msg("This download link is not valid: use the tempDownloadURL exactly as the report gave "
                            "it, or get a new one by reading the report again."))
    if now.timestamp() > expiry:
        raise Forbidden(msg("This download link has expired (a link works for one hour); get a new one by "
                            "reading the report again."))
    report = session.get(BillingReport, report_id)
    if report is None:
        raise NotFound(REPORT_NOT_FOUND)
    require_completed(report)
    return report


# --- making a report: the worker's steps, each one unit of work --------------------------------

def claim_next(session: Session, worker: str, lease: timedelta) -> str | None:
    """Take the oldest report waiting for a worker, or one whose worker stopped renewing its lease; its
    pieces from an earlier attempt are dropped, so it is made again from the start. PostgreSQL skips rows
    another worker holds; SQLite's writing transaction is exclusive anyway."""
    now = utcnow()
    stmt = (select(BillingReport).where(repository.runnable(now - lease))
            .order_by(BillingReport.created, BillingReport.id).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    report = session.scalar(stmt)
    if report is None:
        return None
    repository.drop_chunks(session, report.id)
    report.worker, report.heartbeat, report.started = worker, utcnow(), utcnow()
    report.lines, report.bytes, report.message = 0, 0, None
    return report.id


def waiting(session: Session, lease: timedelta) -> bool:
    """A cheap read for idle workers: is any report to be made?"""
    return session.scalar(select(BillingReport.id).where(repository.runnable(utcnow() - lease)).limit(1)) is not None


def _held(session: Session, report_id: str, worker: str) -> BillingReport | None:
    """The report, locked, while ``worker`` still holds it; None once it was deleted or taken over."""
    report = session.get(BillingReport, report_id, with_for_update=True, populate_existing=True)
    if report is None or report.status != "IN_PROGRESS" or report.worker != worker:
        return None
    return report


def report_partner_ids(session: Session, report_id: str) -> tuple[str, ...]:
    """The partners whose customers the report covers: the narrowed sub-partner's tree, else the owner's."""
    report = session.get(BillingReport, report_id)
    if report is None:
        return ()
    return access.partner_tree(session, report.sub_partner_id or report.partner_id)


def append_chunk(session: Session, report_id: str, worker: str, seq: int, data: bytes) -> bool:
    """Store piece ``seq`` and renew the lease; False (nothing stored) when the report is no longer this
    worker's: deleted (cancelled) or taken over after its lease lapsed."""
    report = _held(session, report_id, worker)
    if report is None:
        return False
    repository.add_chunk(session, report_id, seq, data)
    report.bytes += len(data)
    report.heartbeat = utcnow()
    return True


def renew(session: Session, report_id: str, worker: str) -> bool:
    """Renew the lease while a long query runs; False when the report is no longer this worker's."""
    report = _held(session, report_id, worker)
    if report is None:
        return False
    report.heartbeat = utcnow()
    return True


def complete(session: Session, report_id: str, worker: str, lines: int, size: int, pieces: int) -> bool:
    """COMPLETED, only if every piece written is stored (``pieces``, ``size`` bytes): a report is never
    complete with a piece missing."""
    report = _held(session, report_id, worker)
    if report is None:
        return False
    if repository.chunk_count(session, report_id) != pieces or report.bytes != size:
        raise RuntimeError(f"billing report {report_id}: stored pieces do not match what was written")
    report.status, report.lines, report.finished, report.heartbeat = "COMPLETED", lines, utcnow(), utcnow()
    return True


def fail(session: Session, report_id: str, worker: str | None, message: str) -> None:
    """FAILED with ``message``; its pieces go, so a failed report never serves a partial file."""
    report = session.get(BillingReport, report_id, with_for_update=True, populate_existing=True)
    if report is None or report.status != "IN_PROGRESS" or (worker is not None and report.worker != worker):
        return
    repository.drop_chunks(session, report_id)
    report.status, report.message, report.finished, report.bytes = "FAILED", message[:1000], utcnow(), 0
