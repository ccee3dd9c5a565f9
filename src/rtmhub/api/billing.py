"""/v1/wholesale/billing/reports — the upstream Wholesale Billing Reports contract (W7, R50–R52), and the
temporary download link its reports give (``tempDownloadURL``), which works without the bearer token."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import DB, MAX_OFFSET, CallerDep, decode_or_404, next_link
from rtmhub.api.responses import ERRORS
from rtmhub.db import utcnow
from rtmhub.domain.access import service as access
from rtmhub.domain.billing import service as billing
from rtmhub.domain.billing.models import BillingReport
from rtmhub.domain.billing.schemas import CATEGORY, parse_date
from rtmhub.jobs.billing import stored_pieces

router = APIRouter(prefix="/v1/wholesale/billing", tags=["wholesale billing reports"], responses=ERRORS)
READ = "spark-admin:wholesale_billing_reports_read"
WRITE = "spark-admin:wholesale_billing_reports_write"
KIND = "BILLING_REPORT"
Text = Annotated[str | None, Query(max_length=200)]


# Known values only (the domain's REPORT_STATUSES, REPORT_TYPES, SORT_KEYS): a typo is a 400 that lists them,
# not an empty page.
class ReportStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ReportType(StrEnum):
    PARTNER = "PARTNER"
    CUSTOMER = "CUSTOMER"
    USER = "USER"


class SortBy(StrEnum):
    billingStartDate = "billingStartDate"
    billingEndDate = "billingEndDate"
    id = "id"
    status = "status"



class ReportCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    billingStartDate: str = Field(max_length=40, description="The first day (YYYY-MM-DD) the report covers.")
    billingEndDate: str = Field(max_length=40, description="The last day (YYYY-MM-DD) the report covers.")
    type: str | None = Field(default=None, max_length=40, description="PARTNER (default), CUSTOMER or USER.")
    subPartnerOrgId: str | None = Field(default=None, max_length=200,
                                        description="Only the customers of this sub-partner.")
    internal: bool = Field(default=False, description="Include internal orgs (rtmhub keeps none: every customer "
                                                      "is billed).")


def _call(caller, scope: str, write: bool = False) -> None:
    access.require_scope(caller, scope, write=write)
    access.require_partner(caller)


def _sub_partner(value: str | None) -> str | None:
    """``subPartnerOrgId`` decoded at the edge; one that does not decode matches no sub-partner (404)."""
    return None if value is None else (ids.decode("ORGANIZATION", value) or "")


def _item(r: BillingReport) -> dict:
    return {"id": ids.encode(KIND, r.id), "billingStartDate": r.start_date.isoformat(),
            "billingEndDate": r.end_date.isoformat(), "status": r.status, "type": r.report_type, "category": CATEGORY}


def _report(request: Request, r: BillingReport) -> dict:
    body = {**_item(r), "created": out.iso(r.created), "createdBy": r.created_by}
    if r.status == "COMPLETED":
        settings = request.app.state.settings
        body["tempDownloadURL"] = (settings.base_url(str(request.base_url))
                                   + billing.signed_download_path(r, utcnow(), settings.secret_key))
    if r.status == "FAILED":
        body["errors"] = [{"code": 500, "description": r.message or "The report could not be made."}]
    return body


@router.post("/reports")
def create_report(body: ReportCreate, db: DB, caller: CallerDep):
    _call(caller, WRITE, write=True)
    start = parse_date(body.billingStartDate, "billingStartDate")
    end = parse_date(body.billingEndDate, "billingEndDate")
    with db.unit_of_work() as s:
        r = billing.create_report(s, caller, start=start, end=end, report_type=body.type,
                                  sub_partner_org_id=_sub_partner(body.subPartnerOrgId), internal=body.internal)
        return {"id": ids.encode(KIND, r.id), "billingStartDate": r.start_date.isoformat(),
                "billingEndDate": r.end_date.isoformat(), "type": r.report_type, "category": CATEGORY,
                "internal": r.internal}


@router.get("/reports")
def list_reports(request: Request, response: Response, db: DB, caller: CallerDep,
                 billingStartDate: Annotated[str | None, Query(max_length=40)] = None,
                 billingEndDate: Annotated[str | None, Query(max_length=40)] = None,
                 type: ReportType | None = None,  # noqa: A002 - the upstream parameter name
                 status: ReportStatus | None = None,
                 sortBy: SortBy = SortBy.billingStartDate,
                 subPartnerOrgId: Text = None,
                 offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
                 max: Annotated[int, Query(ge=1, le=100)] = 100):
    _call(caller, READ)
    start = parse_date(billingStartDate, "billingStartDate") if billingStartDate is not None else None
    end = parse_date(billingEndDate, "billingEndDate") if billingEndDate is not None else None
    with db.unit_of_work(write=False) as s:
        rows = billing.list_reports(s, caller, start=start, end=end, report_type=type.value if type else None,
                                    status=status.value if status else None,
                                    sub_partner_org_id=_sub_partner(subPartnerOrgId), sort_by=sortBy.value,
                                    offset=offset, limit=max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        return {"items": [_item(r) for r in rows[:max]]}


@router.get("/reports/{id}")
def get_report(request: Request, id: str, db: DB, caller: CallerDep):  # noqa: A002 - the upstream name
    _call(caller, READ)
    with db.unit_of_work(write=False) as s:
        return _report(request, billing.get_report(s, caller, decode_or_404(KIND, id, "Billing report")))


@router.delete("/reports/{id}", status_code=204, response_class=Response)
def delete_report(id: str, db: DB, caller: CallerDep):  # noqa: A002 - the upstream name
    _call(caller, WRITE, write=True)
    with db.unit_of_work() as s:
        billing.delete_report(s, caller, decode_or_404(KIND, id, "Billing report"))
    return Response(status_code=204)


# The tempDownloadURL: no bearer token (the signature is the permission), so it takes no CallerDep, the one
# /v1 route without it (the tenancy walk lists it as public; tests/test_billing_reports.py checks it).
download_router = APIRouter(tags=["wholesale billing reports"], responses=ERRORS)


@download_router.get(billing.DOWNLOAD_PATH.format(id="{id}"), response_class=StreamingResponse,
                     responses={200: {"content": {"text/csv": {}}, "description": "The report's CSV."}})
def download_report(request: Request, id: str, db: DB,  # noqa: A002 - the path's name
                    Expires: Annotated[str | None, Query(max_length=20)] = None,
                    Signature: Annotated[str | None, Query(max_length=100)] = None):
    """A COMPLETED report's CSV through its signed link (valid one hour); no Authorization header needed."""
    raw = ids.decode(KIND, id) or ""
    with db.unit_of_work(write=False) as s:
        r = billing.verify_download(s, raw, Expires, Signature, utcnow(), request.app.state.settings.secret_key)
        name, size = billing.file_name(r), r.bytes
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(size),
               "Cache-Control": "private, no-store"}
    return StreamingResponse(stored_pieces(db, raw), media_type="text/csv; charset=utf-8", headers=headers)

