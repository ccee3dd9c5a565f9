"""Public identifiers in the upstream form: base64url of ``ciscospark://us/<TYPE>/<uuid>``.

Rows keep plain UUID strings; adapters encode on the way out and decode on the way in. A string
that does not decode to the expected type is treated as an unknown id (404), never as an error of
ours.
"""
from __future__ import annotations

import base64
import binascii
import re

import uuid_utils

PREFIX = "ciscospark://us/"


def new_uuid() -> str:
    """A new row id: a UUID of version 7 (RFC 9562), its first 48 bits the creation time in milliseconds and
    the rest increasing or random. Ids made one after the other sort in that order, so each table's primary
    key and the indexes that hold ids grow at their end instead of at random pages: a batch of inserts
    dirties a few pages instead of one per row (decision 53)."""
    return str(uuid_utils.uuid7())


def short(raw: str) -> str:
    """Eight characters that tell ids apart where a whole one is too long (a site's name, a link's text): the
    last eight, random in every version. The first eight of ids made within the same minute are the same."""
    return raw[-8:]


def encode(kind: str, raw: str) -> str:
    return base64.urlsafe_b64encode(f"{PREFIX}{kind}/{raw}".encode()).decode().rstrip("=")


def decode(kind: str | tuple[str, ...], public_id: str | None) -> str | None:
    """Return the UUID inside ``public_id`` when it is of ``kind``; ``None`` otherwise."""
    if not public_id or len(public_id) > 200:
        return None
    kinds = (kind,) if isinstance(kind, str) else kind
    text = public_id.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if raw.startswith(PREFIX):
        found_kind, _, value = raw[len(PREFIX):].partition("/")
        if found_kind in kinds and _is_uuid(value):
            return value
        return None
    # SCIM and some scripts use the bare UUID.
    return text if _is_uuid(text) else None


def raw(kind: str | tuple[str, ...], value: str) -> str:
    """The UUID inside ``value`` when it is a public id of ``kind`` (or a bare UUID), else ``value`` as
    given: for references that may also be a name or a raw id (CLI options). An edge decodes with this
    and hands the domain raw ids only (decision 2); a value that is neither simply matches nothing."""
    return decode(kind, value) or value


# A UUID as rows hold it: 8-4-4-4-12 hex digits, either case (uuid.UUID also takes braces, a urn: prefix or no
# hyphens, which no row holds). A pattern: parsing each id into a UUID cost a request's id more than decoding it.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None
