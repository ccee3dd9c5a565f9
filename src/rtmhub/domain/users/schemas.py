from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class UserFields(BaseModel):
    """The writable attributes of a user. On update only the fields that were set are applied."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    package: str | None = None
    basic_messaging: bool | None = None
    basic_space_meetings: bool | None = None
    call_on_webex: bool | None = None
    extension: str | None = None
    phone_number: str | None = None
    caller_id_number: str | None = None
    caller_id_first_name: str | None = None
    caller_id_last_name: str | None = None
    location_id: str | None = None
    preferred_site_url: str | None = None
    jabber_calling: bool | None = None
    jabber_with_teams: bool | None = None
    title: str | None = None
    department: str | None = None
    manager: str | None = None
    language: str | None = None
    timezone: str | None = None


# The fields a change gives: the model, or a mapping of its field names to values of its types (a CSV row's,
# which the planner builds from cells already read as text and TRUE/FALSE; see users.service.plan_change).
GivenFields = UserFields | Mapping[str, Any]


class UserFilter(BaseModel):
    email: str | None = None
    display_name: str | None = None  # prefix
    ids: list[str] | None = None
    location_id: str | None = None
    package: str | None = None
    status: str | None = None
    search: str | None = None


class SubscriberFilter(BaseModel):
    """The wholesale subscriber list's filters, as raw values (the edge decodes public ids; an id that did
    not decode is given as "" and matches nothing)."""

    customer_id: str | None = None
    user_id: str | None = None
    external_customer_id: str | None = None
    email: str | None = None
    status: str | None = None
    assigned_since: datetime | None = None  # upstream ``after``
    changed_since: datetime | None = None  # upstream ``lastStatusChange``
    # Both upstream sort keys (created, lastStatusChange) are the package assignment time here.
    descending: bool = False
