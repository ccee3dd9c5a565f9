from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import require_writable, scope_partners
from rtmhub.domain.audit.service import record
from rtmhub.domain.partners.models import PROVISIONING_STATES, OnboardingTemplate, Partner
from rtmhub.domain.validation import check_country, check_language
from rtmhub.errors import Conflict, FieldProblems, ValidationFailed, msg


def create_partner(session: Session, caller: Caller, name: str, parent: Partner | None = None,
                   state: str = "active", billing_start: date | None = None) -> Partner:
    if not name.strip():
        raise ValidationFailed("A partner needs a name.")
    if state not in PROVISIONING_STATES:
        raise ValidationFailed(f"provisioningState must be one of {', '.join(PROVISIONING_STATES)}.")
    if session.scalar(select(Partner.id).where(Partner.name == name.strip())):
        raise Conflict(f"A partner named '{name}' already exists.")
    partner = Partner(name=name.strip(), parent_id=parent.id if parent else None, provisioning_state=state,
                      subscription_id=parent.subscription_id if parent else "Sub" + secrets.token_hex(4),
                      billing_start_date=billing_start or date.today())
    session.add(partner)
    session.flush()
    record(session, caller, "partner.create", "partner", partner.id, None, None,
           {"name": partner.name, "parentId": partner.parent_id, "state": state})
    return partner


def sub_partners(session: Session, caller: Caller, state: str | None = None, offset: int = 0,
                 limit: int = 100) -> list[Partner]:
    stmt = scope_partners(select(Partner).where(Partner.parent_id.is_not(None)), caller)
    if state:
        stmt = stmt.where(Partner.provisioning_state == state)
    return list(session.scalars(stmt.order_by(Partner.created, Partner.id).offset(offset).limit(limit)))


def create_template(session: Session, caller: Caller, partner: Partner, name: str, country: str,
                    language: str = "en") -> OnboardingTemplate:
    # R53 (decision 8): a read-only admin, or a suspended sub-partner, is refused before anything else.
    require_writable(session, caller, partner.id)
    problems = FieldProblems()
    if not name.strip():
        problems.add("name", msg("A template needs a name."))
    check_country(problems, "country", country)
    check_language(problems, "language", language, required=True)
    problems.raise_if_any()
    template = OnboardingTemplate(partner_id=partner.id, name=name.strip(), country=country, language=language,
                                  provisioning_id=secrets.token_hex(16))
    session.add(template)
    session.flush()
    record(session, caller, "template.create", "template", template.id, None, None,
           {"name": template.name, "provisioningId": template.provisioning_id})
    return template


def list_templates(session: Session, caller: Caller) -> list[OnboardingTemplate]:
    stmt = scope_partners(select(OnboardingTemplate), caller, OnboardingTemplate.partner_id)
    return list(session.scalars(stmt.order_by(OnboardingTemplate.created)))


def own_partner(session: Session, caller: Caller) -> Partner | None:
    """The partner a partner administrator belongs to (its own organisation); None for anyone else."""
    return session.get(Partner, caller.partner_id) if caller.partner_id else None


def partner_names(session: Session, caller: Caller) -> dict[str, str]:
    """Partner id -> name for the partners the caller reaches (its own and its sub-partners)."""
    return {p.id: p.name for p in session.scalars(scope_partners(select(Partner), caller))}


def holds_data(session: Session) -> bool:
    """Whether any partner exists yet: the demo loads into an empty database only."""
    return session.scalar(select(Partner.id).limit(1)) is not None
