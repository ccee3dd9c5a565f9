"""Domain errors. Each carries its HTTP meaning so every adapter renders it the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Message(str):
    """An English message (what the API says) that keeps its template and values, so the web pages
    can say it in the reader's language from the same catalogue (keyword ``msg`` for extraction).

    A message that counts something (``msgn``) keeps both English forms and the name of the value that
    chooses between them, so each language picks its own plural form (ngettext)."""

    template: str
    params: dict[str, Any]
    plural: str | None = None
    count: str | None = None

    def __new__(cls, template: str, /, **params: Any) -> Message:
        text = super().__new__(cls, template.format(**params) if params else template)
        text.template = template
        text.params = params
        return text

    def as_dict(self) -> dict[str, Any]:
        out = {"template": self.template, "params": {k: v if isinstance(v, (int, float)) else str(v)
                                                     for k, v in self.params.items()}}
        if self.plural is not None:
            out.update(plural=self.plural, count=self.count)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """The message ``as_dict`` stored (a task row's message), to be said again in any language."""
        params = data.get("params") or {}
        plural, count = data.get("plural"), data.get("count")
        try:
            if plural and count in params:
                return msgn(data["template"], plural, count, **params)
            return cls(data["template"], **params)
        except (KeyError, IndexError, ValueError):  # a stored row from an older template: say it as it was
            return cls(data.get("message") or data["template"])


def msg(template: str, /, **params: Any) -> Message:
    return Message(template, **params)


def msgn(singular: str, plural: str, count: str, /, **params: Any) -> Message:
    """A message about ``params[count]`` things: English says ``singular`` for one and ``plural`` for any
    other number; the pages choose the form of the reader's language (keyword ``msgn`` for extraction)."""
    n = params[count]
    text = Message(singular if n == 1 else plural, **params)
    text.template, text.plural, text.count = singular, plural, count
    return text


@dataclass
class ErrorDetail:
    description: str
    error_code: int | None = None
    field: str | None = None


class DomainError(Exception):
    status = 400
    default_code: int | None = None

    def __init__(self, message: str, errors: list[ErrorDetail] | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or [ErrorDetail(message, code if code is not None else self.default_code)]


class ValidationFailed(DomainError):
    """Input that breaks a rule; the message says what to change."""

    status = 400


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    """Unknown and foreign ids alike: callers must not learn what exists outside their scope."""

    status = 404


class Conflict(DomainError):
    status = 409


class AllocationExceeded(Conflict):
    pass


class PayloadTooLarge(DomainError):
    status = 413


class Unavailable(DomainError):
    """The service cannot do this now but will soon (the SQLite write lock stayed taken longer than the
    request may wait, decision 23): 503 with ``Retry-After`` seconds, never a 500."""

    status = 503

    def __init__(self, message: str, retry_after: int = 2):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class FieldProblems:
    """Collects every problem of one input before failing, so a caller fixes all at once."""

    errors: list[ErrorDetail] = field(default_factory=list)

    def add(self, field_name: str | None, description: str, code: int | None = None) -> None:
        self.errors.append(ErrorDetail(description, code, field_name))

    def raise_if_any(self, summary: str | None = None) -> None:
        if self.errors:
            message = summary or "; ".join(e.description for e in self.errors)
            raise ValidationFailed(message, list(self.errors))
