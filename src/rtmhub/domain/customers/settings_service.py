"""Customer settings of the Control Hub Settings page: name, language, preferred Webex site."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import get_customer
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, MeetingSite
from rtmhub.domain.usage import service as usage
from rtmhub.domain.validation import check_language
from rtmhub.errors import FieldProblems, msg


def meeting_sites(session: Session, customer: Customer) -> list[MeetingSite]:
    return list(session.scalars(select(MeetingSite).where(MeetingSite.customer_id == customer.id)
                                .order_by(MeetingSite.created, MeetingSite.url)))


def update_settings(session: Session, caller: Caller, customer_id: str, *, name: str | None = None,
                    language: str | None = None, preferred_site_url: str | None = None) -> Customer:
    """Change the given settings (None = keep). Every problem is reported at once, by field."""
    customer = get_customer(session, caller, customer_id, write=True, lock=True)
    before = {"name": customer.name, "language": customer.language, "preferredSite": customer.preferred_site_url}
    problems = FieldProblems()
    if name is not None:
        name = name.strip()
        if not name or "%" in name:
            problems.add("name", msg("The name is required and must not contain '%'."))
        elif len(name) > 255:
            problems.add("name", msg("{field} is longer than {max} characters.", field="name", max=255))
    if language is not None:
        language = check_language(problems, "language", language, required=True)
    if preferred_site_url is not None and preferred_site_url != "":
        sites = [s.url for s in meeting_sites(session, customer)]
        if preferred_site_url not in sites:
            problems.add("preferredSite", msg("Webex site '{site}' is not a site of this organisation; use one of: "
                                              "{sites}.", site=preferred_site_url, sites=", ".join(sites) or "(none)"))
    problems.raise_if_any()
    if name is not None:
        customer.name = name
    if language is not None:
        customer.language = language
    if preferred_site_url is not None:
        customer.preferred_site_url = preferred_site_url or None
    session.flush()
    after = {"name": customer.name, "language": customer.language, "preferredSite": customer.preferred_site_url}
    if after["name"] != before["name"]:
        usage.record_allocations(session, customer, utcnow())  # reports name the customer as it was then
    if after != before:
        record(session, caller, "customer.settings", "customer", customer.id, customer.id, before, after)
    return customer
