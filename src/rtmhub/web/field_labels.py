"""Field names in the reader's language.

The domain's messages name fields by their API names ("phoneNumber '0401' …"): that is what an API
client sends and must read back. A page says the field's label in its own language instead, and in a CSV
row's message the column header exactly as the file has it, with the label as a gloss on Finnish and
Swedish pages ("Extension (jatkonumero)"). Applied when a page renders a message, never in the API.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rtmhub.csvfile.columns import COLUMNS

# API field name (the last part of a dotted path) -> the label's msgid (the pages' own labels).
LABELS: dict[str, str] = {
    "email": "E-mail address", "primaryEmail": "Primary e-mail", "userName": "E-mail address",
    "firstName": "First name", "lastName": "Last name", "displayName": "Display name",
    "extension": "Extension", "phoneNumber": "Phone number", "primaryPhoneNumber": "Phone number",
    "callerIdNumber": "Caller ID number", "callerIdFirstName": "Caller ID first name",
    "callerIdLastName": "Caller ID last name", "title": "Title", "department": "Department",
    "manager": "Manager", "language": "Language", "preferredLanguage": "Language",
    "timezone": "Time zone", "timeZone": "Time zone", "preferredWebexSite": "Preferred Webex site",
    "preferredSite": "Preferred Webex site", "locationId": "Location", "location": "Location",
    "name": "Name", "country": "Country code", "addressLine1": "Street address", "address1": "Street address",
    "addressLine2": "Address line 2", "address2": "Address line 2", "city": "City", "postalCode": "Postal code",
    "externalId": "External ID", "packages": "Packages", "package": "Package", "password": "Password",
    "billingStartDate": "Billing start date", "billingEndDate": "Billing end date",
    "from": "From", "to": "To", "actor": "User", "action": "Event",
}

# The messages whose {name}, {to} or {start} is a field (elsewhere {name} is a location's or a partner's).
NAME_IS_FIELD = {
    "'{name}' is at most {n} printable characters.",
    "'{name}': '{value}' is not a date; write it as YYYY-MM-DD (or a time such as 2026-11-26T10:00:00Z).",
    "'{to}' must be later than '{start}'.",
    "{name} must be a date written YYYY-MM-DD, for example 2026-01-31 (got '{value}').",
    "{name} {day} is not over yet: a report covers past days only, up to yesterday ({last}).",
    "{name} {day} is more than five years ago: choose a day from {first} on.",
}

_SNAKE = {"phone_number": "phoneNumber", "location_id": "location", "preferred_webex_site": "preferredWebexSite",
          "preferred_site_url": "preferredWebexSite"}
# CSV column header -> API field name, and back.
_FIELD_OF_HEADER: dict[str, str] = {}
for _column in COLUMNS:
    if _column.field and _column.kind in ("text", "readonly", "bool"):
        _head, *_rest = _column.field.split("_")
        _FIELD_OF_HEADER[_column.header] = _SNAKE.get(_column.field, _head + "".join(p.capitalize() for p in _rest))
_HEADER_OF_FIELD = {field: header for header, field in _FIELD_OF_HEADER.items()}
_HEADER_OF_FIELD.update(primaryPhoneNumber="Phone Number", locationId="Location", timeZone="Time zone")
_EXTRA = {"User ID/Email (Required)": "E-mail address", "User Status": "Status", "Jabber Calling": "Jabber calling",
          "Jabber with Webex Teams": "Jabber with Teams", "Preferred Language": "Language"}


def api_name(field: str) -> str:
    last = field.rsplit(".", 1)[-1]
    return _SNAKE.get(last, last)


def label(field: str, _: Callable[..., str]) -> str:
    """The field's label in the page's language; an unknown name stays as it is."""
    msgid = LABELS.get(api_name(field))
    return _(msgid) if msgid else field


_PROPER = ("Jabber", "Webex", "E.164")  # names that keep their capital inside a sentence


def _gloss(text: str) -> str:
    if text[1:2].isupper() or text.startswith(_PROPER):
        return text
    return text[:1].lower() + text[1:]


def header(value: str, lang: str, _: Callable[..., str]) -> str:
    """A CSV column as the file names it, glossed in the page's language outside English."""
    head = value if value in _FIELD_OF_HEADER or value in _EXTRA else _HEADER_OF_FIELD.get(api_name(value))
    if head is None:
        return label(value, _) if api_name(value) in LABELS else value
    msgid = _EXTRA.get(head) or LABELS.get(_FIELD_OF_HEADER.get(head, ""))
    if lang == "en" or not msgid:
        return head
    return f"{head} ({_gloss(_(msgid))})"


def localise_params(template: str, params: dict[str, Any], lang: str, _: Callable[..., str],
                    csv: bool = False) -> dict[str, Any]:
    """``params`` with every field name said for the page: labels, or CSV headers in a row's message."""
    out = dict(params)

    def say(value: Any, csv: bool = csv) -> Any:
        if not isinstance(value, str):
            return value
        return header(value, lang, _) if csv else label(value, _)

    if "field" in out:
        out["field"] = say(out["field"])
    if "column" in out:  # always a CSV column
        out["column"] = say(out["column"], csv=True)
    if "fields" in out and isinstance(out["fields"], str):
        out["fields"] = ", ".join(say(part.strip()) for part in out["fields"].split(","))
    if template in NAME_IS_FIELD:
        for key in ("name", "to", "start"):
            if key in out:
                out[key] = say(out[key])
    return out
