"""Request-scoped helpers: database, caller, orgId resolution, paging links."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import Database
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers.models import Customer
from rtmhub.errors import NotFound, ValidationFailed


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    db: Database = request.app.state.db
    with db.unit_of_work(write=False) as session:
        return access.authenticate_token(session, token.strip() if scheme.lower() == "bearer" else None,
                                         request_id=request.state.tracking_id)


DB = Annotated[Database, Depends(get_db)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def decode_or_404(kind: str | tuple[str, ...], public_id: str | None, what: str) -> str:
    raw = ids.decode(kind, public_id)
    if raw is None:
        raise NotFound(f"{what} not found; check the id.")
    return raw


def org_customer(session: Session, caller: Caller, org_id: str | None, *, write: bool = False,
                 required: bool = False) -> Customer | None:
    """The customer org a request acts in: ``orgId`` if given (checked against the caller's reach),
    else the customer admin's own org. A partner's own org holds no users in rtmhub."""
    if org_id:
        raw = ids.decode("ORGANIZATION", org_id)
        if raw is None:
            raise NotFound("Organization not found; check the orgId.")
        if caller.partner_id == raw or (caller.system and session.scalar(
                select(Customer.id).where(Customer.org_id == raw)) is None):
            customer = None
        else:
            return access.get_customer_by_org(session, caller, raw, write=write)
    elif caller.customer_id and not caller.is_partner:
        customer = access.get_customer(session, caller, caller.customer_id, write=write)
        return customer
    else:
        customer = None
    if required:
        raise ValidationFailed("Give orgId: the id of the customer organisation to act in.")
    return customer


def customer_of(session: Session, caller: Caller, customer_id: str, *, write: bool = False,
                deleting: bool = False) -> Customer:
    return access.get_customer(session, caller, customer_id, write=write, deleting=deleting)


def next_link(request: Request, response: Response, offset: int, page: int, has_more: bool) -> None:
    """An absolute ``Link: <…>; rel="next"`` — both upstream SDKs follow it as given."""
    if not has_more:
        return
    base = request.app.state.settings.public_url.rstrip("/")
    url = request.url.include_query_params(offset=offset + page, max=page)
    if base:
        url = f"{base}{url.path}?{url.query}"
    response.headers["Link"] = f'<{url}>; rel="next"'
