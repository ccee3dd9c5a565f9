"""Request-scoped helpers: database, caller, decoding public ids (orgId, sub-partner) into the domain's
resolution, paging links."""
from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import Database
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.errors import NotFound, Unavailable, ValidationFailed

log = logging.getLogger("rtmhub.api")

# The largest offset (`offset`, the licence users' `next`) any list accepts; more is a 400. Far beyond
# any real list, and far inside the integers both databases take.
MAX_OFFSET = 10_000_000


async def get_db(request: Request) -> Database:
    # async: answered on the event loop, without a trip through the threadpool for one attribute.
    return request.app.state.db


async def get_caller(request: Request) -> Caller:
    """The bearer token's caller: from the token cache when it knows the token (decision 38), on the event
    loop; else read in a unit of work of its own, in the threadpool as any database work."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    token = given.strip() if scheme.lower() == "bearer" else None
    db: Database = request.app.state.db
    tracking = request.state.tracking_id
    found = access.cached_bearer(token, request_id=tracking)
    if found is None:
        found = await run_in_threadpool(_look_up, db, token, tracking)
    caller, stale = found
    if stale is not None:
        await run_in_threadpool(_record_use, db, stale)
    return caller


def _look_up(db: Database, token: str | None, tracking: str) -> tuple[Caller, str | None]:
    with db.unit_of_work(write=False) as session:
        return access.authenticate_bearer(session, token, request_id=tracking)


def _record_use(db: Database, token_id: str) -> None:
    """A token's last use, in a short writing unit of its own and only when the stored one is over a minute
    old, so that reads stay reads. Best effort: a busy database must not fail the request."""
    try:
        with db.unit_of_work() as session:
            access.touch_token(session, token_id)
    except (OperationalError, Unavailable):  # Unavailable: the lock not got in time (decision 23)
        log.warning("could not record the use of API token %s (database busy)", token_id)


DB = Annotated[Database, Depends(get_db)]
CallerDep = Annotated[Caller, Depends(get_caller)]


ORG_NOT_FOUND = "Organization not found; check the orgId."


def decode_or_404(kind: str | tuple[str, ...], public_id: str | None, what: str) -> str:
    raw = ids.decode(kind, public_id)
    if raw is None:
        raise NotFound(f"{what} not found; check the id.")
    return raw


def org_customer(session: Session, caller: Caller, org_id: str | None, *, write: bool = False,
                 required: bool = False) -> Customer | None:
    """The customer org a request acts in: ``orgId`` if given (checked against the caller's reach),
    else the customer admin's own org. A partner's own org holds no users in rtmhub."""
    customer = None
    if org_id:
        raw = ids.decode("ORGANIZATION", org_id)
        if raw is None:
            raise NotFound(ORG_NOT_FOUND)
        if caller.partner_id != raw:
            try:
                return access.resolve_customer(session, caller, raw, by="org_id", write=write,
                                               not_found=ORG_NOT_FOUND)
            except NotFound:
                # The operator reaches every org, so one it cannot find is no customer's (its partners').
                if not caller.system:
                    raise
    elif caller.customer_id and not caller.is_partner:
        return access.resolve_customer(session, caller, caller.customer_id, by="id", write=write)
    if required:
        raise ValidationFailed("Give orgId: the id of the customer organisation to act in.")
    return customer


def sub_partner_scope(session: Session, caller: Caller, sub_partner_org_id: str | None) -> tuple[str, ...] | None:
    """``onBehalfOfSubPartnerOrgId`` decoded at the edge; one that does not decode matches no sub-partner (404)."""
    if sub_partner_org_id is None:
        return None
    return access.sub_partner_scope(session, caller, ids.decode("ORGANIZATION", sub_partner_org_id) or "")


def calling_values(phone_number: str | None, extension: str | None, location_id: str | None) -> dict[str, Any]:
    """The calling data a request gave, as user fields: only what it names (None = not given). A location
    id that does not decode is kept as an unknown id, so the rules answer "location not found"."""
    values: dict[str, Any] = {}
    if phone_number is not None:
        values["phone_number"] = phone_number
    if extension is not None:
        values["extension"] = extension
    if location_id is not None:
        values["location_id"] = ids.decode("LOCATION", location_id) or "unknown"
    return values


def next_link(request: Request, response: Response, offset: int, page: int, has_more: bool,
              cursor: str | None = None, *, offset_name: str = "offset", size_name: str = "max") -> None:
    """An absolute ``Link: <…>; rel="next"`` — both upstream SDKs follow it as given. ``cursor``: where the next
    page starts (the key of this page's extra row, decision 62), so that a client following the header reads it
    from there instead of walking to its offset; the offset is given too, and a cursor of this request is never
    handed on unchanged."""
    if not has_more:
        return
    base = request.app.state.settings.public_url.rstrip("/")
    url = request.url.remove_query_params("cursor").include_query_params(
        **{offset_name: str(offset + page), size_name: page})
    if cursor:
        url = url.include_query_params(cursor=cursor)
    if base:
        url = f"{base}{url.path}?{url.query}"
    response.headers["Link"] = f'<{url}>; rel="next"'


CursorParam = Annotated[str | None, Query(max_length=400, description=(
    "Where the page starts, as the `Link` header's next address gives it (an rtmhub addition): the page is read "
    "from there instead of walking to `offset`. Leave it out to page by `offset` alone."))]
