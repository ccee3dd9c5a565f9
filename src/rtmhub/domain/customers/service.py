"""Wholesale customers: provision, change packages and allocations, delete, precheck (R4-R7, R37-R44)."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Select, case, cast, delete, func, select
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.db import utcnow
from rtmhub.domain.access.models import AdminAccount
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import (
    admin_exists,
    create_first_admin,
    get_customer,
    require_writable,
    scope_customers,
    scope_partners,
)
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer, CustomerPackage, MeetingSite
from rtmhub.domain.customers.schemas import (
    Address,
    CustomerCreate,
    CustomerFilter,
    CustomerPrecheck,
    CustomerUpdate,
    ProvisioningParameters,
)
from rtmhub.domain.locations.models import Location
from rtmhub.domain.packages.models import (
    BASE_LICENCES,
    CALLING_PACKAGES,
    CUSTOMER_PACKAGES,
    DEPENDENCIES,
    LIMIT_KEYS,
    PACKAGES,
    USER_PACKAGES,
    display_name,
)
from rtmhub.domain.paging import fetch_page
from rtmhub.domain.partners.models import OnboardingTemplate, Partner
from rtmhub.domain.usage import service as usage
from rtmhub.domain.users.models import User
from rtmhub.domain.validation import check_country, check_email, check_language, check_timezone
from rtmhub.errors import Conflict, FieldProblems, NotFound, ValidationFailed, msg, msgn

MEETING_PACKAGES = frozenset(p.id for p in PACKAGES.values() if p.meetings)
ALLOCATION_MAX = 10_000_000  # the contract's bound on provisioningParameters.packages.limits (D3)
# What a partner can sell on the onboarding form: the user packages and the customer-level
# entitlements that R6-R7 tie to them (D1).
ONBOARDING_PACKAGES = (*USER_PACKAGES, "common_area_calling", "attendant_console", "cisco_calling_plan")


def snapshot(session: Session, customer: Customer) -> dict[str, Any]:
    allocations = {p.package: p.allocation for p in session.scalars(
        select(CustomerPackage).where(CustomerPackage.customer_id == customer.id)) if p.package not in BASE_LICENCES}
    return {"name": customer.name, "externalId": customer.external_id, "status": customer.status,
            "country": customer.country, "packages": allocations}


def list_customers(session: Session, caller: Caller, flt: CustomerFilter, offset: int = 0, limit: int | None = 100,
                   partner_ids: tuple[str, ...] | None = None) -> list[Customer]:
    stmt = scope_customers(select(Customer), caller, partner_ids)
    if flt.external_id:
        stmt = stmt.where(Customer.external_id == flt.external_id)
    if flt.org_id is not None:
        stmt = stmt.where(Customer.org_id == flt.org_id)
    if flt.statuses:
        stmt = stmt.where(Customer.status.in_(flt.statuses))
    if flt.search:
        term = f"%{flt.search.strip().lower()}%"
        stmt = stmt.where(func.lower(Customer.name).like(term) | func.lower(Customer.external_id).like(term))
    rows = fetch_page(session, stmt, ((Customer.created, False), (Customer.id, False)), offset, limit)
    return [row[0] for row in rows]


def packages_of(session: Session, customer_id: str) -> list[CustomerPackage]:
    return list(session.scalars(select(CustomerPackage).where(
        CustomerPackage.customer_id == customer_id, CustomerPackage.package.not_in(BASE_LICENCES))
        .order_by(CustomerPackage.created, CustomerPackage.package)))


# --- validation shared by provision, update and precheck -----------------------------------

def _check_packages(problems: FieldProblems, packages: list[str]) -> list[str]:
    if not packages:
        problems.add("packages", "packages must list at least one package.")
        return []
    unknown = [p for p in packages if p not in CUSTOMER_PACKAGES]
    if unknown:
        problems.add("packages",
                     f"Unknown package(s) {', '.join(unknown)}; use any of: {', '.join(CUSTOMER_PACKAGES)}.")
    if len(set(packages)) != len(packages):
        problems.add("packages", "packages lists the same package twice.")
    for package, needs in DEPENDENCIES.items():
        if package in packages and not set(needs) & set(packages):
            problems.add("packages", msg("{package} requires one of {needs} on the same customer.",
                                          package=package, needs=", ".join(needs)))
    return list(dict.fromkeys(p for p in packages if p in CUSTOMER_PACKAGES))


def _check_limits(problems: FieldProblems, params: ProvisioningParameters | None, packages: list[str]) -> dict[str,
                                                                                                               int]:
    limits = (params.packages.limits if params and params.packages and params.packages.limits else None) or {}
    result: dict[str, int] = {}
    for key, value in limits.items():
        if key not in LIMIT_KEYS:
            problems.add("provisioningParameters.packages.limits",
                         f"No limit can be set for '{key}'; limits exist for: {', '.join(LIMIT_KEYS)}.")
        elif key not in packages:
            problems.add("provisioningParameters.packages.limits",
                         f"A limit is given for {key}, which is not in packages; add it or drop the limit.")
        elif isinstance(value, bool) or not 0 <= value <= ALLOCATION_MAX or value != int(value):  # also NaN, inf
            problems.add("provisioningParameters.packages.limits",
                         f"The limit of {key} must be a whole number from 0 to 10000000 (got {value}).")
        else:
            result[key] = int(value)
    return result


def _check_address(problems: FieldProblems, address: Address, prefix: str = "address") -> None:
    check_country(problems, f"{prefix}.country", address.country)
    for name in ("addressLine1", "city"):
        if not getattr(address, name).strip():
            problems.add(f"{prefix}.{name}", f"{prefix}.{name} is required.")


def _check_calling(problems: FieldProblems, params: ProvisioningParameters | None, packages: list[str],
                   required: bool) -> None:
    location = params.calling.location if params and params.calling else None
    if location is None:
        if required and needs_first_location(packages):
            problems.add("provisioningParameters.calling.location",
                         "Calling packages need provisioningParameters.calling.location (name, address, timezone, "
                         "language) for the first location.")
        return
    if not location.name.strip():
        problems.add("provisioningParameters.calling.location.name", "The location name is required.")
    _check_address(problems, location.address, "provisioningParameters.calling.location.address")
    check_timezone(problems, "provisioningParameters.calling.location.timezone", location.timezone, required=True)
    check_language(problems, "provisioningParameters.calling.location.language", location.language, required=True)
    if params and params.meetings:
        check_timezone(problems, "provisioningParameters.meetings.timezone", params.meetings.timezone)


def _target_partner(session: Session, caller: Caller, partner_ids: tuple[str, ...] | None) -> Partner:
    partner_id = partner_ids[0] if partner_ids else caller.partner_id
    partner = session.get(Partner, partner_id) if partner_id else None
    if partner is not None:
        return partner
    raise ValidationFailed("The operator must act for a partner; give onBehalfOfSubPartnerOrgId or use a partner "
                           "administrator's token.")


def _template(session: Session, caller: Caller, partner: Partner, provisioning_id: str) -> OnboardingTemplate:
    template = session.scalar(select(OnboardingTemplate).where(OnboardingTemplate.provisioning_id == provisioning_id))
    allowed = {partner.id, partner.parent_id} | set(caller.partner_ids)
    if template is None or (template.partner_id not in allowed and not caller.system):
        raise ValidationFailed(f"provisioningId '{provisioning_id}' does not name an onboarding template of yours; "
                               "list them with 'rtmhub templates list'.")
    return template


def _validate_create(session: Session, caller: Caller, data: CustomerCreate | CustomerPrecheck,
                     partner: Partner) -> tuple[list[str], dict[str, int], OnboardingTemplate | None]:
    problems = FieldProblems()
    template = None
    if data.provisioningId is not None:
        try:
            template = _template(session, caller, partner, data.provisioningId)
        except ValidationFailed as exc:
            problems.errors.extend(exc.errors)
    packages = _check_packages(problems, data.packages) if data.packages is not None else []
    limits = _check_limits(problems, data.provisioningParameters, packages)
    _check_address(problems, data.address)
    _check_calling(problems, data.provisioningParameters, packages, required=data.packages is not None)
    info = data.customerInfo
    if info is None and data.orgId is None and isinstance(data, CustomerCreate):
        problems.add("customerInfo", "customerInfo (name, primaryEmail) is required for a new organisation.")
    if info is not None:
        if info.name is not None and (not info.name.strip() or "%" in info.name):
            problems.add("customerInfo.name", "customerInfo.name is required and must not contain '%'.")
        check_email(problems, "customerInfo.primaryEmail", info.primaryEmail)
        check_language(problems, "customerInfo.language", info.language)
    if data.orgId is not None:
        problems.add("orgId", "rtmhub provisions new organisations only: leave out orgId and give customerInfo.")
    if data.externalId is not None:
        if not data.externalId.strip():
            problems.add("externalId", "externalId must not be empty.")
        elif session.scalar(select(Customer.id).where(Customer.partner_id == partner.id,
                                                      Customer.external_id == data.externalId)):
            problems.add("externalId", msg("A customer with externalId '{external_id}' already exists.",
                                            external_id=data.externalId), 409)
    if info is not None and session.scalar(select(User.id).where(User.email_key == info.primaryEmail.strip().lower())):
        problems.add("customerInfo.primaryEmail", msg("The email {email} is already associated with an existing "
                                                      "user.", email=info.primaryEmail), 10022)
    if info is not None and admin_exists(session, info.primaryEmail):
        # The primary e-mail becomes the customer's first administrator (R5); accounts are unique (D6).
        problems.add("customerInfo.primaryEmail", msg(
            "The email {email} already belongs to an administrator account, and it would become this customer's "
            "first administrator; give another primaryEmail.", email=info.primaryEmail.strip()), 409)
    _raise_problems(problems)
    return packages, limits, template


def _raise_problems(problems: FieldProblems) -> None:
    """Refusals made only of conflicts with what exists (a taken externalId or e-mail) are a 409, as the
    contract declares for POST and PUT; any other problem beside them makes the answer a 400 (decision 50)."""
    if problems.errors:
        conflict = all(e.error_code in (409, 10022) for e in problems.errors)
        error = (Conflict if conflict else ValidationFailed)("; ".join(e.description for e in problems.errors),
                                                             problems.errors)
        raise error


# --- commands ------------------------------------------------------------------------------

def precheck(session: Session, caller: Caller, data: CustomerPrecheck,
             partner_ids: tuple[str, ...] | None = None) -> None:
    partner = _target_partner(session, caller, partner_ids)
    _validate_create(session, caller, data, partner)


def provision(session: Session, caller: Caller, data: CustomerCreate,
              partner_ids: tuple[str, ...] | None = None) -> Customer:
    partner = _target_partner(session, caller, partner_ids)
    require_writable(session, caller, partner.id)
    packages, limits, template = _validate_create(session, caller, data, partner)
    info = data.customerInfo
    assert info is not None and template is not None
    address = data.address
    customer = Customer(
        partner_id=partner.id, template_id=template.id, name=info.name.strip(),
        primary_email=info.primaryEmail.strip(), language=info.language or template.language,
        address_line1=address.addressLine1, address_line2=address.addressLine2, city=address.city,
        state_or_province=address.stateOrProvince, zip_or_postal_code=address.zipOrPostalCode,
        country=address.country, external_id=data.externalId, status="provisioned",
        meetings_timezone=(data.provisioningParameters.meetings.timezone
                           if data.provisioningParameters and data.provisioningParameters.meetings else None),
    )
    session.add(customer)
    session.flush()
    for package in [*packages, *BASE_LICENCES]:
        session.add(CustomerPackage(customer_id=customer.id, package=package, allocation=limits.get(package),
                                    subscription_id=partner.subscription_id))
    _ensure_location(session, customer, data.provisioningParameters)
    _ensure_site(session, customer, packages)
    session.flush()
    usage.record_allocations(session, customer, utcnow())
    record(session, caller, "customer.provision", "customer", customer.id, customer.id, None,
           snapshot(session, customer))
    # R5: the primary e-mail is the customer's first full administrator, without a password until it uses a
    # set-password link (the onboarding page shows one; `rtmhub admin reset-link` makes one).
    create_first_admin(session, caller, customer)
    return customer


def update(session: Session, caller: Caller, customer_id: str, data: CustomerUpdate,
           partner_ids: tuple[str, ...] | None = None) -> Customer:
    customer = get_customer(session, caller, customer_id, write=True, partner_ids=partner_ids, lock=True)
    before = snapshot(session, customer)
    problems = FieldProblems()
    packages = _check_packages(problems, data.packages)
    limits = _check_limits(problems, data.provisioningParameters, packages)
    if data.address is not None:
        _check_address(problems, data.address)
    has_location = session.scalar(select(Location.id).where(Location.customer_id == customer.id).limit(1))
    _check_calling(problems, data.provisioningParameters, packages, required=not has_location)
    if data.externalId is not None and data.externalId != customer.external_id and session.scalar(
            select(Customer.id).where(Customer.partner_id == customer.partner_id,
                                      Customer.external_id == data.externalId)):
        problems.add("externalId", msg("A customer with externalId '{external_id}' already exists.",
                                       external_id=data.externalId), 409)
    _raise_problems(problems)
    current = {p.package: p for p in packages_of(session, customer.id)}
    for package, row in current.items():
        if package not in packages and row.used:
            raise Conflict(msgn("{count} user holds {package}; give the user another package before removing {id} "
                                "from the customer.",
                                "{count} users hold {package}; give them another package before removing {id} "
                                "from the customer.", "count", count=row.used, package=display_name(package),
                                id=package))
    for package, limit in limits.items():
        held = current.get(package)
        if held is not None and held.used > limit:
            raise Conflict(msg("{package} cannot be limited to {limit}: {used} units are assigned. Free units "
                               "first or choose a limit of at least that many.", package=display_name(package),
                               limit=limit, used=held.used))
    for package, row in current.items():
        if package not in packages:
            session.delete(row)
    partner = session.get(Partner, customer.partner_id)
    for package in packages:
        existing = current.get(package)
        if existing is None:
            session.add(CustomerPackage(customer_id=customer.id, package=package, allocation=limits.get(package),
                                        subscription_id=partner.subscription_id if partner else None))
        elif package in limits:
            existing.allocation = limits[package]
    if data.externalId is not None:
        customer.external_id = data.externalId
    if data.address is not None:
        a = data.address
        customer.address_line1, customer.address_line2, customer.city = a.addressLine1, a.addressLine2, a.city
        customer.state_or_province, customer.zip_or_postal_code, customer.country = (
            a.stateOrProvince, a.zipOrPostalCode, a.country)
    if data.provisioningParameters and data.provisioningParameters.meetings:
        customer.meetings_timezone = data.provisioningParameters.meetings.timezone
    if not has_location:
        _ensure_location(session, customer, data.provisioningParameters)
    _ensure_site(session, customer, packages)
    session.flush()
    usage.record_allocations(session, customer, utcnow())  # packages added or removed, limits, externalId
    record(session, caller, "customer.update", "customer", customer.id, customer.id, before,
           snapshot(session, customer))
    return customer


def set_allocation(session: Session, caller: Caller, customer_id: str, package: str, allocation: int | None) -> None:
    """Change one package's allocation (Partner Hub "edit allocations")."""
    customer = get_customer(session, caller, customer_id, write=True, lock=True)
    row = session.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer.id,
                                                       CustomerPackage.package == package))
    if row is None:
        raise NotFound(f"The customer has no package {package}.")
    if allocation is not None and not 0 <= allocation <= ALLOCATION_MAX:
        # D3: the same bound as the limits given at provisioning; every face (pages, CLI) relies on it.
        raise ValidationFailed(msg("The allocation of {package} must be a whole number from 0 to 10,000,000, or "
                                   "none for unlimited (got {limit}).", package=display_name(package),
                                   limit=allocation))
    if allocation is not None and allocation < row.used:
        raise Conflict(msg("{package} cannot be limited to {limit}: {used} units are assigned. Free units "
                           "first or choose a limit of at least that many.", package=display_name(package),
                           limit=allocation, used=row.used))
    before = snapshot(session, customer)
    row.allocation = allocation
    session.flush()
    usage.record_allocations(session, customer, utcnow())
    record(session, caller, "customer.allocation", "customer", customer.id, customer.id, before,
           snapshot(session, customer))


def remove(session: Session, caller: Caller, customer_id: str, partner_ids: tuple[str, ...] | None = None) -> None:
    customer = get_customer(session, caller, customer_id, write=True, deleting=True, partner_ids=partner_ids)
    before = snapshot(session, customer)
    # The ledger keeps the history of what is deleted here: the customer's intervals close, never vanish.
    usage.record_customer_removed(session, customer, utcnow())
    for model in (User, Location, CustomerPackage, MeetingSite, AdminAccount):
        session.execute(delete(model).where(model.customer_id == customer.id))
    session.delete(customer)
    session.flush()
    record(session, caller, "customer.delete", "customer", customer.id, customer.id, before, None,
           partner_id=customer.partner_id)  # the row is gone: its partner is given


def _ensure_location(session: Session, customer: Customer, params: ProvisioningParameters | None) -> None:
    location = params.calling.location if params and params.calling else None
    if location is None:
        return
    a = location.address
    session.add(Location(
        customer_id=customer.id, name=location.name.strip(), address1=a.addressLine1, address2=a.addressLine2,
        city=a.city, state=a.stateOrProvince, postal_code=a.zipOrPostalCode, country=a.country,
        time_zone=location.timezone, preferred_language=location.language, announcement_language=location.language,
        emergency_location_identifier=location.emergencyLocationIdentifier,
    ))


def _ensure_site(session: Session, customer: Customer, packages: list[str]) -> None:
    if not MEETING_PACKAGES & set(packages):
        return
    if session.scalar(select(MeetingSite.id).where(MeetingSite.customer_id == customer.id).limit(1)):
        return
    slug = re.sub(r"[^a-z0-9]+", "-", customer.name.lower()).strip("-")[:40] or "site"
    url = f"{slug}-{ids.short(customer.org_id)}.webex.com"
    session.add(MeetingSite(customer_id=customer.id, url=url, timezone=customer.meetings_timezone))
    customer.preferred_site_url = url


# --- reading for the Partner Hub and Control Hub pages -------------------------------------

def needs_first_location(packages: Iterable[str]) -> bool:
    """R42: provisioning a calling package needs the customer's first calling location."""
    return bool(CALLING_PACKAGES & set(packages))


def onboarding_choices() -> list[tuple[str, str, bool, bool]]:
    """The packages of the onboarding form: (id, name, takes a limit, is a calling package) (D1, D2)."""
    return [(p, display_name(p), p in LIMIT_KEYS, p in CALLING_PACKAGES) for p in ONBOARDING_PACKAGES]


def onboarding_templates(session: Session, caller: Caller) -> list[OnboardingTemplate]:
    """The templates the caller may onboard with (its partner and sub-partners'), by name."""
    stmt = scope_partners(select(OnboardingTemplate), caller, OnboardingTemplate.partner_id)
    return list(session.scalars(stmt.order_by(OnboardingTemplate.name)))


def names(session: Session, caller: Caller, customer_ids: Iterable[str]) -> dict[str, str]:
    """Customer id -> name, for the ids the caller reaches (others are left out)."""
    ids = set(customer_ids)
    if not ids:
        return {}
    stmt = scope_customers(select(Customer.id, Customer.name).where(Customer.id.in_(ids)), caller)
    return {cid: name for cid, name in session.execute(stmt)}


def packages_by_customer(session: Session, caller: Caller,
                         customer_ids: Iterable[str]) -> dict[str, list[CustomerPackage]]:
    """``packages_of`` for many customers in one query, limited to the customers the caller reaches."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return {}
    # The customers are named on both sides of the join: named only on the packages' side, PostgreSQL read all
    # of a partner's customers to build the join's hash (10,000: 9 of the statement's 11 ms), decision 69.
    stmt = scope_customers(select(CustomerPackage).join(Customer, Customer.id == CustomerPackage.customer_id)
                           .where(CustomerPackage.customer_id.in_(ids), Customer.id.in_(ids),
                                  CustomerPackage.package.not_in(BASE_LICENCES)), caller)
    out: dict[str, list[CustomerPackage]] = {}
    for row in session.scalars(stmt.order_by(CustomerPackage.created, CustomerPackage.package)):
        out.setdefault(row.customer_id, []).append(row)
    return out


@dataclass(frozen=True)
class PackageUse:
    """A user package of a customer with its use. ``full`` is R3: a full package is not offered."""

    id: str
    name: str
    used: int
    allocation: int | None
    full: bool
    calling: bool


def _use(row: CustomerPackage) -> PackageUse:
    full = row.allocation is not None and row.used >= row.allocation
    return PackageUse(id=row.package, name=display_name(row.package), used=row.used, allocation=row.allocation,
                      full=full, calling=row.package in CALLING_PACKAGES)


def package_choices(session: Session, customer: Customer) -> list[PackageUse]:
    """The packages a user of ``customer`` can be given (D1), with their use (R3)."""
    return [_use(row) for row in packages_of(session, customer.id) if row.package in USER_PACKAGES]


def package_use(session: Session, customer: Customer, package: str) -> PackageUse | None:
    """One package's use, read in the caller's transaction (e.g. to explain an AllocationExceeded)."""
    row = session.scalar(select(CustomerPackage).where(CustomerPackage.customer_id == customer.id,
                                                       CustomerPackage.package == package))
    return _use(row) if row is not None else None


@dataclass(frozen=True)
class PackageTotal:
    """One package summed over the caller's customers; ``allocated`` sums the limited allocations."""

    package: str
    allocated: int
    used: int
    unlimited: bool  # at least one customer holds it without a limit


@dataclass(frozen=True)
class NearestFull:
    """A customer's fullest limited package (used / allocation; an allocation of 0 counts as full)."""

    customer_id: str
    customer_name: str
    package: str
    used: int
    allocation: int
    ratio: float


@dataclass(frozen=True)
class UsageSummary:
    customer_count: int
    totals: list[PackageTotal]  # in catalogue order
    nearest_full: list[NearestFull]  # fullest first


def usage_summary(session: Session, caller: Caller, nearest: int = 6) -> UsageSummary:
    """The Partner Hub home: customers, and package use (D3) across every customer the caller reaches.
    Summed and ranked by the database: a partner with 10,000 customers has 30,000 package rows, and
    the page shows a handful of figures."""
    def scoped(*columns: Any) -> Select:
        return scope_customers(select(*columns).select_from(CustomerPackage)
                               .join(Customer, Customer.id == CustomerPackage.customer_id)
                               .where(CustomerPackage.package.not_in(BASE_LICENCES)), caller)

    totals = {package: PackageTotal(package=package, allocated=int(allocated or 0), used=int(used or 0),
                                    unlimited=bool(unlimited))
              for package, used, allocated, unlimited in session.execute(
                  scoped(CustomerPackage.package, func.sum(CustomerPackage.used), func.sum(CustomerPackage.allocation),
                         func.count() > func.count(CustomerPackage.allocation)).group_by(CustomerPackage.package))}
    # A customer's fullest limited package (an allocation of 0 counts as full), then the fullest customers.
    ratio = case((CustomerPackage.allocation > 0, cast(CustomerPackage.used, Float) / CustomerPackage.allocation),
                 else_=1.0)
    ranked = scoped(Customer.id.label("cid"), Customer.name.label("name"), CustomerPackage.package.label("package"),
                    CustomerPackage.used.label("used"), CustomerPackage.allocation.label("allocation"),
                    ratio.label("ratio"),
                    func.row_number().over(partition_by=Customer.id,
                                           order_by=(ratio.desc(), CustomerPackage.package)).label("rank")
                    ).where(CustomerPackage.allocation.is_not(None)).subquery()
    fullest = session.execute(select(ranked.c.cid, ranked.c.name, ranked.c.package, ranked.c.used,
                                     ranked.c.allocation, ranked.c.ratio).where(ranked.c.rank == 1)
                              .order_by(ranked.c.ratio.desc(), ranked.c.name, ranked.c.cid).limit(nearest))
    count = session.scalar(scope_customers(select(func.count()).select_from(Customer), caller)) or 0
    order = {p: i for i, p in enumerate(PACKAGES)}
    return UsageSummary(
        customer_count=count,
        totals=sorted(totals.values(), key=lambda t: order.get(t.package, 99)),
        nearest_full=[NearestFull(customer_id=cid, customer_name=name, package=package, used=used,
                                  allocation=allocation, ratio=float(r))
                      for cid, name, package, used, allocation, r in fullest])


@dataclass(frozen=True)
class UnitsByPackage:
    package: str
    used: int
    allocated: int | None  # None when any customer's allocation of it is unlimited
    customers: int


def units_by_package(session: Session) -> list[UnitsByPackage]:
    """Units used and allocated per package across every customer, in one aggregate query: the operator's
    view for monitoring (no caller, no tenant in the answer; the face that shows it decides who sees it)."""
    unlimited = func.sum(case((CustomerPackage.allocation.is_(None), 1), else_=0))
    rows = session.execute(
        select(CustomerPackage.package, func.coalesce(func.sum(CustomerPackage.used), 0),
               func.coalesce(func.sum(CustomerPackage.allocation), 0), unlimited, func.count())
        .group_by(CustomerPackage.package).order_by(CustomerPackage.package))
    return [UnitsByPackage(package, int(used), None if unlimited_count else int(allocated), int(count))
            for package, used, allocated, unlimited_count, count in rows]
