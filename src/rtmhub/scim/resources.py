"""SCIM JSON ⇄ rtmhub users and directory groups: reading what an identity provider sends (case-insensitive
names, booleans as strings, unknown and read-only attributes ignored) and writing the representations."""
from __future__ import annotations

import hashlib
from typing import Any

from rtmhub.domain.directory.models import DirectoryGroup
from rtmhub.domain.directory.people import DirectoryAttributes
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.scim.errors import ScimError, bad
from rtmhub.scim.filters import get_ci
from rtmhub.scim.schemas import ENTERPRISE, GROUP, USER, USER_URNS, WEBEX_USER, attribute_index

_USER_ATTRS = attribute_index(USER)
_ENTERPRISE_ATTRS = attribute_index(ENTERPRISE)
_GROUP_ATTRS = attribute_index(GROUP)
COMMON = {"externalid": {"name": "externalId", "type": "string", "multiValued": False, "mutability": "readWrite"}}


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad(f"{name} must be a boolean (true or false).")


def _scalar(definition: dict, value: Any, where: str) -> Any:
    if value is None:
        return None
    if definition["type"] == "boolean":
        return _bool(where, value)
    if definition["type"] == "complex":
        raise bad(f"{where} must be an object.")
    if isinstance(value, (dict, list)):
        raise bad(f"{where} must be a single value, not {'an object' if isinstance(value, dict) else 'a list'}.")
    if isinstance(value, bool):
        raise bad(f"{where} must be a string.")
    return str(value) if not isinstance(value, str) else value


def canonical(doc: dict, attrs: dict[str, dict], where: str = "") -> dict:
    """``doc`` with known writable attributes only, under their schema names, values checked and coerced."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        definition = attrs.get(key.lower())
        if definition is None or definition.get("mutability") == "readOnly" or value is None:
            continue
        name = definition["name"]
        path = f"{where}{name}"
        if definition["type"] == "complex":
            subs = {s["name"].lower(): s for s in definition.get("subAttributes", [])}
            if definition["multiValued"]:
                items = value if isinstance(value, list) else [value]
                clean = []
                for item in items:
                    if not isinstance(item, dict):
                        raise bad(f"{path} must hold objects.")
                    clean.append(canonical(item, subs, f"{path}."))
                out[name] = clean
            else:
                if not isinstance(value, dict):
                    raise bad(f"{path} must be an object.")
                out[name] = canonical(value, subs, f"{path}.")
        elif definition["multiValued"]:
            items = value if isinstance(value, list) else [value]
            out[name] = [_scalar(definition, v, path) for v in items]
        else:
            out[name] = _scalar(definition, value, path)
    return out


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


class UserInput:
    """A SCIM User read for a create or a full replace."""

    def __init__(self, doc: dict):
        if not isinstance(doc, dict):
            raise bad("The body must be a JSON object.", "invalidSyntax")
        self.core = canonical(doc, {**_USER_ATTRS, **COMMON})
        ext = get_ci(doc, ENTERPRISE.lower())
        self.enterprise = canonical(ext, _ENTERPRISE_ATTRS, "enterprise.") if isinstance(ext, dict) else {}
        user_name = _text(self.core.get("userName"))
        if not user_name:
            raise bad("userName is required: the user's e-mail address.")
        if len(user_name) > 255:
            raise bad("userName is at most 255 characters.")
        emails = [e for e in self.core.get("emails", []) if _text(e.get("value"))]
        if "@" in user_name:
            email = user_name
            work_primary = [e for e in emails if e.get("primary") is True and (e.get("type") or "work") == "work"]
            if work_primary and work_primary[0]["value"].strip().lower() != user_name.lower():
                raise bad("The primary work e-mail must equal userName.")
        else:
            chosen = ([e for e in emails if e.get("primary") is True] + [e for e in emails if e.get("type") == "work"]
                      + emails)
            if not chosen:
                raise bad("userName must be an e-mail address, or emails must hold the user's e-mail address.")
            email = chosen[0]["value"].strip()
        self.email = email
        self.user_name = None if user_name.lower() == email.lower() else user_name
        self.emails = emails
        self.phones = [p for p in self.core.get("phoneNumbers", []) if _text(p.get("value"))]
        work = ([p for p in self.phones if p.get("type") == "work" and p.get("primary") is True]
                + [p for p in self.phones if p.get("type") == "work"])
        self.work_number = work[0]["value"] if work else None
        manager = self.enterprise.get("manager") or {}
        self.manager_id = _text(manager.get("value"))

    def fields(self, manager_email: str | None) -> UserFields:
        name = self.core.get("name") or {}
        return UserFields(email=self.email, first_name=_text(name.get("givenName")),
                          last_name=_text(name.get("familyName")), display_name=_text(self.core.get("displayName")),
                          title=_text(self.core.get("title")), language=_text(self.core.get("preferredLanguage")),
                          timezone=_text(self.core.get("timezone")),
                          department=_text(self.enterprise.get("department")), manager=manager_email)

    def attributes(self) -> DirectoryAttributes:
        active = self.core.get("active")
        data: dict[str, Any] = {}
        if self.emails:
            data["emails"] = self.emails
        if self.phones:
            data["phoneNumbers"] = self.phones
        # What the directory left out reads back left out (rtmhub's pages still show a derived display name).
        if not _text(self.core.get("displayName")):
            data["displayName"] = False
        if active is None:
            data["active"] = False
        return DirectoryAttributes(external_id=_text(self.core.get("externalId")), user_name=self.user_name,
                                   active=True if active is None else active, work_number=self.work_number, data=data)


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def version(value: Any) -> str:
    return 'W/"' + hashlib.sha1(str(value).encode()).hexdigest()[:16] + '"'


def user_doc(user: User, base: str, manager: User | None = None, complete: bool = False) -> dict:
    """The SCIM User. ``complete``: with what the directory left out too (what filters see)."""
    data = user.directory_data or {}
    emails = data.get("emails") or []
    if not any(str(e.get("value", "")).lower() == user.email_key for e in emails):
        emails = [{"value": user.email, "type": "work", "primary": True}]
    doc: dict[str, Any] = {"schemas": [USER, ENTERPRISE, WEBEX_USER], "id": user.id}
    if user.external_id:
        doc["externalId"] = user.external_id
    doc["userName"] = user.user_name or user.email
    name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
    if name:
        doc["name"] = name
    shown = {"displayName": complete or data.get("displayName") is not False,
             "active": complete or data.get("active") is not False}
    for key, value in (("displayName", user.display_name if shown["displayName"] else None), ("title", user.title),
                       ("preferredLanguage", user.language), ("timezone", user.timezone)):
        if value:
            doc[key] = value
    if shown["active"] or not user.active:
        doc["active"] = bool(user.active)
    doc["emails"] = emails
    phones = data.get("phoneNumbers") or ([{"value": user.phone_number, "type": "work"}] if user.phone_number else [])
    if phones:
        doc["phoneNumbers"] = phones
    enterprise: dict[str, Any] = {}
    if user.department:
        enterprise["department"] = user.department
    if user.manager:
        if manager is not None:
            enterprise["manager"] = {"value": manager.id, "$ref": f"{base}/Users/{manager.id}"}
    if enterprise:
        doc[ENTERPRISE] = enterprise
    doc[WEBEX_USER] = {"accountStatus": ["active" if user.active else "disabled"]}
    # A new row's last_modified is taken when its change is planned, just before the row's created.
    modified = max(user.created, user.last_modified) if user.created and user.last_modified else user.last_modified
    doc["meta"] = {"resourceType": "User", "created": _iso(user.created), "lastModified": _iso(modified),
                   "version": version(user.last_modified), "location": f"{base}/Users/{user.id}"}
    return doc


def group_doc(group: DirectoryGroup, base: str, members: list[User] | None) -> dict:
    doc: dict[str, Any] = {"schemas": [GROUP], "id": group.id}
    if group.external_id:
        doc["externalId"] = group.external_id
    doc["displayName"] = group.display_name
    if members is not None:
        doc["members"] = [{"value": u.id, "$ref": f"{base}/Users/{u.id}", "type": "User"} for u in members]
    doc["meta"] = {"resourceType": "Group", "created": _iso(group.created), "lastModified": _iso(group.last_modified),
                   "version": version(group.last_modified), "location": f"{base}/Groups/{group.id}"}
    return doc


class GroupInput:
    def __init__(self, doc: dict):
        if not isinstance(doc, dict):
            raise bad("The body must be a JSON object.", "invalidSyntax")
        core = canonical(doc, {**_GROUP_ATTRS, **COMMON})
        self.display_name = _text(core.get("displayName"))
        if not self.display_name:
            raise bad("displayName is required for a group.")
        self.external_id = _text(core.get("externalId"))
        self.members: list[str] = []
        for member in core.get("members", []):
            value = _text(member.get("value"))
            if not value:
                raise bad("Each member needs a value: the id of a user.")
            if (member.get("type") or "User").lower() != "user":
                raise bad("Only users can be members of a group.")
            self.members.append(value)


def project(doc: dict, attributes: list[str] | None, excluded: list[str] | None) -> dict:
    """RFC 7644 §3.9: ``attributes`` keeps those (and id, schemas); ``excludedAttributes`` drops them."""
    def key_of(name: str) -> tuple[str | None, str, str | None]:
        low = name.strip().lower()
        for urn in (*USER_URNS, GROUP):
            if low.startswith(urn.lower() + ":"):
                head, _, sub = low[len(urn) + 1:].partition(".")
                return (None if urn in (USER, GROUP) else urn), head, sub or None
            if low == urn.lower():
                return urn, "", None
        head, _, sub = low.partition(".")
        return None, head, sub or None

    if WEBEX_USER in doc and not any(a.strip().lower().startswith(WEBEX_USER.lower()) for a in attributes or []):
        # The Webex extension is returned when asked for (it is not in the User resource type's extensions,
        # so that clients that validate strictly against the resource type accept every response).
        doc = {k: v for k, v in doc.items() if k != WEBEX_USER}
        doc["schemas"] = [u for u in doc["schemas"] if u != WEBEX_USER]
    if attributes:
        out: dict[str, Any] = {"schemas": doc["schemas"], "id": doc["id"]}
        for name in attributes:
            urn, head, sub = key_of(name)
            source = doc if urn is None else doc.get(next((k for k in doc if k.lower() == urn.lower()), ""), {})
            target = out if urn is None else out.setdefault(next((k for k in doc if k.lower() == urn.lower()), urn), {})
            if not head:
                target.update(source if isinstance(source, dict) else {})
                continue
            key = next((k for k in source if k.lower() == head), None) if isinstance(source, dict) else None
            if key is None:
                continue
            if sub is None:
                target[key] = source[key]
            elif isinstance(source[key], dict):
                if sub in {k.lower() for k in source[key]}:
                    skey = next(k for k in source[key] if k.lower() == sub)
                    target.setdefault(key, {})[skey] = source[key][skey]
            elif isinstance(source[key], list):
                target[key] = [{k: v for k, v in item.items() if k.lower() == sub} for item in source[key]
                               if isinstance(item, dict)]
        return out
    if excluded:
        out = dict(doc)
        for name in excluded:
            urn, head, sub = key_of(name)
            container = out if urn is None else out.get(next((k for k in out if k.lower() == urn.lower()), ""))
            if not isinstance(container, dict) or not head or head in ("id", "schemas"):
                continue
            key = next((k for k in container if k.lower() == head), None)
            if key is None:
                continue
            if sub is None:
                if urn is not None:
                    container = out[next(k for k in out if k.lower() == urn.lower())] = dict(container)
                container.pop(key)
            elif isinstance(container[key], dict):
                container[key] = {k: v for k, v in container[key].items() if k.lower() != sub}
        return out
    return doc


def check_schemas(doc: Any, core: str) -> None:
    if not isinstance(doc, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    schemas = doc.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or core not in schemas):
        raise ScimError(400, f"schemas must include {core}.", "invalidSyntax")
