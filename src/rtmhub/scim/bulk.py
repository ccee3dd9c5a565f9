"""SCIM Bulk (RFC 7644 §3.7): up to 100 operations in one transaction, each in its own SAVEPOINT (atomic on its
own), bulkId references between them."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy.orm import Session

from rtmhub.db import is_locked
from rtmhub.domain.directory import service as directory
from rtmhub.domain.partners.models import Partner
from rtmhub.errors import DomainError
from rtmhub.scim import errors as scim_errors
from rtmhub.scim import schemas
from rtmhub.scim.edge import Ctx, _customer, _logged, failure_reason, log
from rtmhub.scim.errors import ScimError
from rtmhub.scim.groups import create_group, delete_group, patch_group, replace_group
from rtmhub.scim.users import create_user, delete_user, patch_user, replace_user

# --- bulk ----------------------------------------------------------------------------------

_BULK_REF = re.compile(r"bulkId:[^/]+")
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$", re.I)


def _resolve_refs(value: Any, created: dict[str, str], missing: set[str]) -> Any:
    if isinstance(value, str) and value.startswith("bulkId:"):
        ref = value[len("bulkId:"):]
        if ref in created:
            return created[ref]
        missing.add(ref)
        return value
    if isinstance(value, dict):
        return {k: _resolve_refs(v, created, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, created, missing) for v in value]
    return value


def _bulk_one(ctx: Ctx, method: str, path: str, data: Any) -> tuple[int, Any]:
    m = _PATH.match(path)
    if not m:
        raise ScimError(400, f"path {path!r} is not /Users, /Groups or one of their resources.", "invalidPath")
    kind, rid = m.group(1).lower(), m.group(2)
    if method == "POST" and rid is None:
        return (create_user if kind == "users" else create_group)(ctx, data)
    if rid is None:
        raise ScimError(400, f"{method} needs a resource path such as /{m.group(1)}/{{id}}.", "invalidPath")
    if method == "PUT":
        return (replace_user if kind == "users" else replace_group)(ctx, rid, data)
    if method == "PATCH":
        return (patch_user if kind == "users" else patch_group)(ctx, rid, data)
    if method == "DELETE":
        return (delete_user if kind == "users" else delete_group)(ctx, rid)
    raise ScimError(400, f"method must be POST, PUT, PATCH or DELETE, not {method!r}.", "invalidSyntax")


def bulk(ctx: Ctx, body: Any) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    if schemas.BULK_REQUEST not in (body.get("schemas") or [schemas.BULK_REQUEST]):
        raise ScimError(400, f"schemas must be [\"{schemas.BULK_REQUEST}\"].", "invalidSyntax")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list):
        raise ScimError(400, "Operations must be a list.", "invalidSyntax")
    if len(operations) > schemas.MAX_BULK:
        raise ScimError(413, f"At most {schemas.MAX_BULK} operations in one Bulk request ({len(operations)} given).",
                        "tooMany")
    # One transaction for the whole request, one SAVEPOINT per operation (decision 36): an operation that
    # fails rolls back to its savepoint and changes nothing, the others stay, and the request commits once.
    with ctx.db.unit_of_work() as session:
        # A foreign or unknown org fails the whole request, as every endpoint does; it is resolved once.
        customer = _customer(session, ctx)
        events = directory.SyncLog(customer.id)
        inner = dataclasses.replace(ctx, session=session, customer=customer, sync_log=events)
        # Held for the request so that every operation's write check (R53) finds it in the session instead of
        # loading it again (the session keeps only the rows something refers to).
        partner = session.get(Partner, customer.partner_id)  # noqa: F841
        fail_on = body.get("failOnErrors")
        if fail_on is not None and (isinstance(fail_on, bool) or not isinstance(fail_on, int) or fail_on < 1):
            raise ScimError(400, "failOnErrors must be a positive integer.", "invalidValue")
        if not all(isinstance(op, dict) for op in operations):
            raise ScimError(400, "Each operation must be an object.", "invalidSyntax")
        results = _operations(inner, session, events, operations, fail_on)
        events.write(session)
    return 200, {"schemas": [schemas.BULK_RESPONSE], "Operations": results}


def _operations(ctx: Ctx, session: Session, events: directory.SyncLog, operations: list,
                fail_on: int | None) -> list[dict]:
    created: dict[str, str] = {}
    results: list[dict] = []
    errors = 0
    for op in operations:
        if fail_on is not None and errors >= fail_on:
            break
        method = str(op.get("method", "")).upper()
        bulk_id = op.get("bulkId")
        out: dict[str, Any] = {"method": method}
        if bulk_id is not None:
            out["bulkId"] = bulk_id
        mark = events.mark()
        try:
            missing: set[str] = set()
            path = _BULK_REF.sub(lambda m, seen=missing: _resolve_refs(m.group(0), created, seen),
                                 str(op.get("path", "")))
            data = _resolve_refs(op.get("data"), created, missing)
            if missing:
                raise ScimError(409, f"bulkId {sorted(missing)[0]} does not name an earlier operation that succeeded.",
                                "invalidValue")
            if method == "POST" and not bulk_id:
                raise ScimError(400, "A POST operation needs a bulkId.", "invalidValue")
            with session.begin_nested():
                status, doc = _bulk_one(ctx, method, path, data)
            out["status"] = str(status)
            if isinstance(doc, dict) and "meta" in doc:
                out["location"] = doc["meta"]["location"]
                out["version"] = doc["meta"]["version"]
                if method == "POST" and bulk_id:
                    created[str(bulk_id)] = doc["id"]
            elif method == "DELETE":
                out["location"] = f"{ctx.base}{path}"
        except Exception as exc:  # each operation fails alone, as a SCIM error
            errors += 1
            events.drop_since(mark)  # the operation's own lines went with its SAVEPOINT
            if _logged(exc):
                events.add(f"Bulk {method} {op.get('path', '')}"[:60], None, "error", failure_reason(exc))
            err = exc if isinstance(exc, ScimError) else (
                scim_errors.from_domain(exc) if isinstance(exc, DomainError) else None)
            if err is None:
                if not is_locked(exc):
                    log.exception("unhandled SCIM bulk error")
                err = ScimError(503 if is_locked(exc) else 500, "The operation failed; retry it.")
            out["status"] = str(err.status)
            out["response"] = scim_errors.body(err)
        results.append(out)
    return results
