"""rtmhub additions under /v1: manual add of up to 25 users, CSV preview/import tasks, export."""
from __future__ import annotations

from typing import Annotated, BinaryIO, Literal, cast

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy.orm import Session

from rtmhub import ids
from rtmhub.api import serializers as out
from rtmhub.api.deps import DB, CallerDep, decode_or_404, next_link, org_customer
from rtmhub.api.people import PEOPLE_READ, PEOPLE_WRITE, PersonBody, _fields_from_body, _In
from rtmhub.api.responses import ERRORS
from rtmhub.csvfile import export as csv_export
from rtmhub.csvfile.workbook import XLSX_TYPE
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import Task, TaskRow
from rtmhub.domain.users import service as users
from rtmhub.errors import DomainError, ValidationFailed
from rtmhub.jobs import exports, imports

router = APIRouter(prefix="/v1", tags=["bulk users"], responses=ERRORS)
OrgParam = Annotated[str | None, Query(max_length=200)]
CSV = "text/csv; charset=utf-8"


def task_body(t: Task, reverted_by: list[str] | None = None) -> dict:
    return {
        "id": ids.encode("TASK", t.id), "type": t.type, "status": t.status, "mode": t.mode, "fileName": t.file_name,
        # What a preview would delete comes first (its rows are listed first too); an import's deletions done.
        "deletions": t.deleted,
        "orgId": None, "createdBy": t.created_by, "created": out.iso(t.created), "started": out.iso(t.started),
        "finished": out.iso(t.finished), "progress": tasks.task_progress(t),
        "counts": {"added": t.added, "modified": t.modified, "deleted": t.deleted, "unchanged": t.unchanged,
                   "failed": t.failed, "warnings": t.warnings},
        "allocations": t.allocations, "message": t.message, "notices": t.notices or [],
        "cancelRequested": t.cancel_requested,
        "previewOf": ids.encode("TASK", t.preview_of) if t.preview_of else None,
        # Reverts (our addition): the task a revert undoes, and the reverts applied to this task, newest first.
        "revertsTaskId": ids.encode("TASK", t.reverts_task_id) if t.reverts_task_id else None,
        "revertedBy": [ids.encode("TASK", r) for r in reverted_by or []],
    }


def _task_with_org(s: Session, caller: Caller, t: Task, reverted_by: dict[str, list[str]] | None = None) -> dict:
    if reverted_by is None:
        reverted_by = tasks.reverted_by(s, [t.id])
    body = task_body(t, reverted_by.get(t.id))
    body["orgId"] = out.org_id(access.get_customer(s, caller, t.customer_id))  # the caller reached the task
    return body


class ManualAdd(_In):
    orgId: str | None = Field(default=None, max_length=200)
    people: list[PersonBody] = Field(max_length=100)


@router.post("/people/bulk")
def add_people(body: ManualAdd, db: DB, caller: CallerDep, orgId: OrgParam = None):
    """Manually add up to 25 users; each is created whole or refused with its reason."""
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    with db.unit_of_work() as s:
        customer = org_customer(s, caller, body.orgId or orgId, write=True, required=True)
        entries = []
        for person in body.people:
            if not person.emails:
                raise ValidationFailed("Every person needs emails with one address.")
            entries.append(_fields_from_body(s, customer, person, creating=True))
        results = users.add_many(s, caller, customer, entries)
        licences = out.licence_ids(s, customer.id)
        items = []
        for person, result in zip(body.people, results, strict=False):
            if isinstance(result, DomainError):
                items.append({"email": person.emails[0], "status": "error", "message": result.message,
                              "errors": [{"description": e.description, "errorCode": e.error_code or result.status}
                                         for e in result.errors]})
            else:
                items.append({"email": result.email, "status": "created",
                              "person": out.person(result, customer, licences)})
        return {"items": items, "created": sum(1 for i in items if i["status"] == "created"),
                "failed": sum(1 for i in items if i["status"] == "error")}


@router.get("/userImports/template", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def csv_template(caller: CallerDep):
    access.require_scope(caller, PEOPLE_READ)  # like every /v1 endpoint: a token is needed
    return StreamingResponse(csv_export.template(), media_type=CSV,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users-template.csv"'})


@router.post("/userImports", status_code=202)
def upload_import(request: Request, db: DB, caller: CallerDep,
                  file: Annotated[UploadFile, File(description="CSV file in the Control Hub format, or an Excel "
                                                               "workbook (.xlsx: by the file name) with the same "
                                                               "columns")],
                  orgId: Annotated[str, Form(max_length=200)],
                  mode: Annotated[Literal["add", "add-remove"], Form()] = "add",
                  preview: Annotated[bool, Form()] = True,
                  sheet: Annotated[str | None, Form(max_length=200,
                                                    description="The sheet of a workbook to import")] = None):
    """Upload a CSV file or an .xlsx workbook: a preview task (dry run) by default, or an import task with
    preview=false."""
    # A plain (threadpool) route: the file is copied into the database chunk by chunk from Starlette's
    # spooled temporary file, blocking reads that must not run on the event loop.
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    settings = request.app.state.settings
    with db.unit_of_work() as s:
        customer = org_customer(s, caller, orgId, write=True, required=True)
        task = imports.submit_import(s, caller, customer.id, file_name=file.filename or "users.csv",
                                     content=cast(BinaryIO, file.file), mode=mode, preview=preview,
                                     max_rows=settings.csv_max_rows or None, max_bytes=settings.max_upload_bytes,
                                     quota_bytes=settings.task_file_quota_bytes, sheet=sheet or None)
        return _task_with_org(s, caller, task)


@router.get("/tasks")
def list_tasks(request: Request, response: Response, db: DB, caller: CallerDep, orgId: OrgParam = None,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               max: Annotated[int, Query(ge=1, le=1000)] = 100):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        customer = org_customer(s, caller, orgId) if orgId or not caller.is_partner else None
        rows = tasks.list_tasks(s, caller, customer.id if customer else None, offset, max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        links = tasks.reverted_by(s, [t.id for t in rows[:max]])
        return {"items": [_task_with_org(s, caller, t, links) for t in rows[:max]]}


@router.get("/tasks/{taskId}")
def get_task(taskId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        return _task_with_org(s, caller, tasks.get_task(s, caller, decode_or_404("TASK", taskId, "Task")))


def _row_body(r: TaskRow) -> dict:
    return {"line": r.line, "email": r.email, "outcome": r.outcome, "changes": r.changes or [],
            "messages": r.messages or []}


@router.get("/tasks/{taskId}/rows")
def get_task_rows(request: Request, response: Response, taskId: str, db: DB, caller: CallerDep,
                  outcome: Literal["add", "modify", "delete", "unchanged", "error", "warning"] | None = None,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  max: Annotated[int, Query(ge=1, le=1000)] = 100):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        rows = tasks.task_rows(s, caller, decode_or_404("TASK", taskId, "Task"), outcome, offset, max + 1)
        next_link(request, response, offset, max, len(rows) > max)
        return {"items": [_row_body(r) for r in rows[:max]]}


@router.get("/tasks/{taskId}/errors.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def download_error_report(taskId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_READ)
    body = exports.error_report(db, caller, decode_or_404("TASK", taskId, "Task"))
    return StreamingResponse(body, media_type=CSV,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-errors.csv"'})


@router.post("/tasks/{taskId}/apply", status_code=202)
def apply_preview(request: Request, taskId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    quota = request.app.state.settings.task_file_quota_bytes
    with db.unit_of_work() as s:
        return _task_with_org(s, caller, tasks.apply_preview(s, caller, decode_or_404("TASK", taskId, "Task"),
                                                             quota_bytes=quota))


class RevertBody(_In):
    dryRun: bool | None = None
    force: bool | None = None


@router.post("/tasks/{taskId}/revert", status_code=202)
def revert_task(taskId: str, db: DB, caller: CallerDep, body: RevertBody | None = None,
                dryRun: bool = False, force: bool = False):
    """Revert an applied import (our addition): a new task that puts every user the import added, modified or
    deleted back as it was before it, from the audit trail. ``dryRun`` queues a preview of the revert (apply it
    with POST /v1/tasks/{taskId}/apply); ``force`` also puts back users changed after the import, whose rows
    otherwise fail. Given in the JSON body or the query."""
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    dry = body.dryRun if body is not None and body.dryRun is not None else dryRun
    forced = body.force if body is not None and body.force is not None else force
    with db.unit_of_work() as s:
        task = tasks.start_revert(s, caller, decode_or_404("TASK", taskId, "Task"), dry_run=dry, force=forced)
        return _task_with_org(s, caller, task)


@router.post("/tasks/{taskId}/cancel")
def cancel_task(taskId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    with db.unit_of_work() as s:
        return _task_with_org(s, caller, tasks.cancel(s, caller, decode_or_404("TASK", taskId, "Task")))


@router.delete("/tasks/{taskId}", status_code=204, response_class=Response)
def delete_task(taskId: str, db: DB, caller: CallerDep):
    access.require_scope(caller, PEOPLE_WRITE, write=True)
    with db.unit_of_work() as s:
        tasks.delete_task(s, caller, decode_or_404("TASK", taskId, "Task"))
    return Response(status_code=204)


@router.get("/userExport", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}})
def export_users(db: DB, caller: CallerDep, orgId: OrgParam = None,
                 format: Annotated[Literal["csv", "xlsx"], Query(description="csv (default) or xlsx, an Excel "
                                                                             "workbook")] = "csv"):
    access.require_scope(caller, PEOPLE_READ)
    with db.unit_of_work(write=False) as s:
        customer = org_customer(s, caller, orgId, required=True)
        customer_id = customer.id
    if format == "xlsx":
        return StreamingResponse(exports.export_users(db, caller, customer_id, "xlsx"), media_type=XLSX_TYPE,
                                 headers={"Content-Disposition": 'attachment; filename="rtmhub-users.xlsx"'})
    return StreamingResponse(exports.export_users(db, caller, customer_id), media_type=CSV,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users.csv"'})
