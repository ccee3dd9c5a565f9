"""Directory groups and memberships, as an identity provider pushes them (SCIM). Every write is audited with
the caller (the directory token) and happens in the caller's transaction; nothing here assigns packages (the
group → package mappings read ``members_of`` / ``groups_of_user``)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rtmhub.db import utcnow
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import require_writable
from rtmhub.domain.audit.service import record
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory.models import DirectoryGroup, DirectoryGroupMember
from rtmhub.domain.users.models import User
from rtmhub.errors import Conflict, FieldProblems, NotFound, ValidationFailed
from rtmhub.ids import new_uuid

DISPLAY_NAME_MAX = 256


def _snapshot(group: DirectoryGroup, members: list[str] | None = None) -> dict:
    data: dict = {"name": group.display_name, "externalId": group.external_id}
    if members is not None:
        data["members"] = sorted(members)
    return data


def get_group(session: Session, customer: Customer, group_id: str | None) -> DirectoryGroup:
    group = session.scalar(select(DirectoryGroup).where(DirectoryGroup.id == (group_id or ""),
                                                        DirectoryGroup.customer_id == customer.id))
    if group is None:
        raise NotFound("Group not found; check the id.")
    return group


def find_group_by_name(session: Session, customer: Customer, display_name: str) -> DirectoryGroup | None:
    return session.scalar(select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id,
                                                       DirectoryGroup.display_key == display_name.strip().lower()))


def list_groups(session: Session, customer: Customer) -> list[DirectoryGroup]:
    return list(session.scalars(select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id)
                                .order_by(DirectoryGroup.created, DirectoryGroup.id)))


def count_groups(session: Session, customer: Customer) -> int:
    return session.scalar(select(func.count()).select_from(DirectoryGroup)
                          .where(DirectoryGroup.customer_id == customer.id)) or 0


def members_of(session: Session, group: DirectoryGroup) -> list[DirectoryGroupMember]:
    """The group's memberships, in the order the users joined (the order waiting members get units)."""
    return list(session.scalars(select(DirectoryGroupMember).where(DirectoryGroupMember.group_id == group.id)
                                .order_by(DirectoryGroupMember.joined, DirectoryGroupMember.user_id)))


def member_ids(session: Session, group_id: str) -> list[str]:
    return list(session.scalars(select(DirectoryGroupMember.user_id).where(DirectoryGroupMember.group_id == group_id)
                                .order_by(DirectoryGroupMember.joined, DirectoryGroupMember.user_id)))



def member_users(session: Session, group: DirectoryGroup) -> list[User]:
    """The group's users, in the order they joined."""
    ids_ = member_ids(session, group.id)
    if not ids_:
        return []
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids_)))}
    return [found[i] for i in ids_ if i in found]


def organisation_members(session: Session, customer: Customer, values: list[str]) -> list[str]:
    """The member ids a client gave, each checked to be a user of this organisation (a group never reaches
    another organisation's users): the first that is not is named in a 400."""
    if values:
        found = set(session.scalars(select(User.id).where(User.customer_id == customer.id, User.id.in_(values))))
        missing = [v for v in values if v not in found]
        if missing:
            raise ValidationFailed(f"Member {missing[0]} is not a user of this organisation.")
    return list(values)

def groups_of_user(session: Session, user: User) -> list[DirectoryGroup]:
    return list(session.scalars(select(DirectoryGroup).join(DirectoryGroupMember,
                                                            DirectoryGroupMember.group_id == DirectoryGroup.id)
                                .where(DirectoryGroupMember.user_id == user.id).order_by(DirectoryGroup.display_key)))


def _check_name(display_name: str | None) -> str:
    name = (display_name or "").strip()
    problems = FieldProblems()
    if not name:
        problems.add("displayName", "displayName is required for a group.")
    elif len(name) > DISPLAY_NAME_MAX:
        problems.add("displayName", f"displayName is at most {DISPLAY_NAME_MAX} characters.")
    problems.raise_if_any()
    return name


def _check_unique_name(session: Session, customer: Customer, name: str, group_id: str) -> None:
    other = find_group_by_name(session, customer, name)
    if other is not None and other.id != group_id:
        raise Conflict(f"A group named {name} already exists in this organisation.")


def _check_members(session: Session, customer: Customer, user_ids: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    found = set(session.scalars(select(User.id).where(User.customer_id == customer.id, User.id.in_(wanted))))
    missing = [u for u in wanted if u not in found]
    if missing:
        raise ValidationFailed(f"Member {missing[0]} is not a user of this organisation.")
    return wanted


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("Another change to the same group won; reload and retry.") from exc


def create_group(session: Session, caller: Caller, customer: Customer, display_name: str | None,
                 external_id: str | None = None, member_user_ids: Iterable[str] = ()) -> DirectoryGroup:
    require_writable(session, caller, customer.partner_id)
    name = _check_name(display_name)
    _check_unique_name(session, customer, name, "")
    members = _check_members(session, customer, member_user_ids)
    now = utcnow()
    group = DirectoryGroup(id=new_uuid(), customer_id=customer.id, display_name=name, display_key=name.lower(),
                           external_id=external_id, created=now, last_modified=now)
    session.add(group)
    _flush(session)
    _add(session, group, members, now)
    record(session, caller, "group.create", "directory_group", group.id, customer.id, None, _snapshot(group, members))
    return group


def _add(session: Session, group: DirectoryGroup, user_ids: list[str], now: datetime) -> list[str]:
    present = set(member_ids(session, group.id))
    new = [u for u in user_ids if u not in present]
    for user_id in new:
        session.add(DirectoryGroupMember(group_id=group.id, user_id=user_id, joined=now))
    if new:
        _flush(session)
    return new


def update_group(session: Session, caller: Caller, customer: Customer, group: DirectoryGroup, *,
                 display_name: str | None = None, external_id: str | None = None, set_external_id: bool = False,
                 members: Iterable[str] | None = None, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
    """Renames the group and/or changes its members: ``members`` replaces them all (kept members keep their
    join time), ``add``/``remove`` change some. One audit event for the whole change."""
    require_writable(session, caller, customer.partner_id)
    before_members = member_ids(session, group.id)
    before = _snapshot(group, before_members)
    if display_name is not None:
        name = _check_name(display_name)
        _check_unique_name(session, customer, name, group.id)
        group.display_name, group.display_key = name, name.lower()
    if set_external_id:
        group.external_id = external_id
    now = utcnow()
    current = set(before_members)
    if members is not None:
        wanted = _check_members(session, customer, members)
        dropped = current - set(wanted)
        _remove(session, group, dropped)
        _add(session, group, wanted, now)
    else:
        _remove(session, group, set(remove))
        _add(session, group, _check_members(session, customer, add), now)
    after = _snapshot(group, member_ids(session, group.id))
    if after != before:
        group.last_modified = now
        _flush(session)
        record(session, caller, "group.update", "directory_group", group.id, customer.id, before, after)


def _remove(session: Session, group: DirectoryGroup, user_ids: set[str]) -> None:
    if user_ids:
        session.execute(delete(DirectoryGroupMember).where(DirectoryGroupMember.group_id == group.id,
                                                           DirectoryGroupMember.user_id.in_(user_ids)))


def delete_group(session: Session, caller: Caller, customer: Customer, group: DirectoryGroup) -> None:
    require_writable(session, caller, customer.partner_id, deleting=True)
    before = _snapshot(group, member_ids(session, group.id))
    session.execute(delete(DirectoryGroupMember).where(DirectoryGroupMember.group_id == group.id))
    session.delete(group)
    session.flush()
    record(session, caller, "group.delete", "directory_group", group.id, customer.id, before, None)
