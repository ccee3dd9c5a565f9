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
from rtmhub.errors import Conflict, FieldProblems, Forbidden, NotFound, ValidationFailed, msg


def create_partner(session: Session, caller: Caller, name: str, parent: Partner | None = None,
                   state: str = "active", billing_start: date | None = None,
                   subscription_id: str | None = None) -> Partner:
    """A partner, or with ``parent`` a sub-partner of it (W6). Sub-partners are one level deep (Partner
    1—n Sub-partner): a sub-partner cannot be a parent. A sub-partner consumes its parent's subscription
    unless another subscription id is given; the billing start date defaults to the set-up date (W6)."""
    clean = name.strip()
    if not clean:
        raise ValidationFailed(msg("A partner needs a name."))
    if len(clean) > 200 or any(ord(c) < 32 for c in clean):
        raise ValidationFailed(msg("A partner name has at most 200 characters and no control characters."))
    if state not in PROVISIONING_STATES:
        raise ValidationFailed(f"provisioningState must be one of {', '.join(PROVISIONING_STATES)}.")
    if parent is not None:
        if parent.parent_id is not None:
            raise ValidationFailed(msg("'{parent}' is itself a sub-partner; sub-partners are one level deep, so "
                                       "give a top-level partner as the parent.", parent=parent.name))
        # R53 (decision 8): a read-only admin, or a suspended sub-partner, creates nothing.
        require_writable(session, caller, parent.id)
    if subscription_id is not None:
        subscription_id = subscription_id.strip()
        if not subscription_id or len(subscription_id) > 64 or not subscription_id.isprintable():
            raise ValidationFailed(msg("A subscription id has 1 to 64 printable characters."))
    if session.scalar(select(Partner.id).where(Partner.name == clean)):
        raise Conflict(msg("A partner named '{name}' already exists.", name=clean))
    partner = Partner(name=clean, parent_id=parent.id if parent else None, provisioning_state=state,
                      subscription_id=subscription_id or (parent.subscription_id if parent
                                                          else "Sub" + secrets.token_hex(4)),
                      billing_start_date=billing_start or date.today())
    session.add(partner)
    session.flush()
    record(session, caller, "partner.create", "partner", partner.id, None, None,
           {"name": partner.name, "parentId": partner.parent_id, "state": state,
            "subscriptionId": partner.subscription_id, "billingStartDate": str(partner.billing_start_date)})
    return partner


def list_partners(session: Session, caller: Caller) -> list[Partner]:
    """Every partner the caller reaches (the operator: all), top-level partners first, then by name."""
    stmt = scope_partners(select(Partner), caller)
    return list(session.scalars(stmt.order_by(Partner.parent_id.is_not(None), Partner.name)))


def own_sub_partners(session: Session, caller: Caller) -> list[Partner]:
    """The sub-partners whose parent is the caller's own partner, by name (the Sub-partners page)."""
    if not caller.partner_id:
        return []
    stmt = scope_partners(select(Partner).where(Partner.parent_id == caller.partner_id), caller)
    return list(session.scalars(stmt.order_by(Partner.name)))


def get_sub_partner(session: Session, caller: Caller, partner_id: str) -> Partner:
    """A sub-partner the caller reaches; unknown and foreign ids answer the same 404."""
    partner = session.scalar(scope_partners(
        select(Partner).where(Partner.id == partner_id, Partner.parent_id.is_not(None)), caller))
    if partner is None:
        raise NotFound(msg("Sub-partner not found."))
    return partner


def set_state(session: Session, caller: Caller, partner: Partner, state: str) -> bool:
    """Suspend or activate a sub-partner (R53: a suspended sub-partner may only delete customers and
    subscribers). Only sub-partners have a provisioning state to change; a partner administrator changes
    its sub-partners', never its own organisation's (a suspended sub-partner must not lift its own
    suspension). Returns False when the sub-partner already was in that state (nothing is written)."""
    if state not in PROVISIONING_STATES:
        raise ValidationFailed(f"provisioningState must be one of {', '.join(PROVISIONING_STATES)}.")
    if partner.parent_id is None:
        raise ValidationFailed(msg("'{name}' is a top-level partner: only sub-partners can be suspended or "
                                   "activated (R53).", name=partner.name))
    if not caller.system:
        if caller.read_only:
            raise Forbidden("A read-only administrator cannot change anything.")
        if partner.id == caller.partner_id or partner.id not in caller.partner_ids:
            raise Forbidden(msg("Only the parent partner can suspend or activate a sub-partner."))
        if caller.partner_id:
            require_writable(session, caller, caller.partner_id)
    if partner.provisioning_state == state:
        return False
    before = partner.provisioning_state
    partner.provisioning_state = state
    session.flush()
    record(session, caller, f"partner.{'suspend' if state == 'suspended' else 'activate'}", "partner", partner.id,
           None, {"state": before}, {"state": state})
    return True


def suspended_partner(session: Session, partner_id: str | None) -> Partner | None:
    """The partner if it is suspended (R53), for the pages' notice; None otherwise."""
    partner = session.get(Partner, partner_id) if partner_id else None
    return partner if partner is not None and partner.provisioning_state == "suspended" else None


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
    elif len(name.strip()) > 200:
        problems.add("name", msg("A template name has at most 200 characters."))
    elif session.scalar(select(OnboardingTemplate.id).where(OnboardingTemplate.partner_id == partner.id,
                                                            OnboardingTemplate.name == name.strip())):
        # Decision 20: templates are chosen by name (pages, CLI); two of one name could not be told apart.
        problems.add("name", msg("This partner already has a template named '{name}'; choose another name.",
                                 name=name.strip()))
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
