"""The audit log's filter and the field-level difference of one event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rtmhub.errors import Message


@dataclass(frozen=True)
class AuditFilter:
    """What to list: events at or after ``since`` and before ``until`` (aware datetimes), whose actor
    contains ``actor``, whose action is ``action`` (or, given as ``user`` or ``user.*``, any action of
    that kind), and whose subject (a user's or admin's e-mail, a location's name, …) contains ``email``;
    the text filters ignore case. None: no condition."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Change:
    """One field of an event in words: its label and its values before and after (None: no value).
    Labels and yes/no are ``Message``s, so the pages say them in the reader's language."""

    field: str
    label: Message
    before: str | None
    after: str | None
