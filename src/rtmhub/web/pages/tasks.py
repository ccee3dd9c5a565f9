"""Tasks: the list (all customers, one customer's), one task with its rows, live progress, apply, revert,
errors."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from rtmhub.domain.access import service as access
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.packages.models import display_name
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.tasks.models import FINISHED
from rtmhub.jobs import exports
from rtmhub.web.forms import (
    CSV_TYPE,
    PAGE,
    mode_label,
    opened,
    page_args,
    row_message,
    show,
    status_label,
    task_type_label,
)
from rtmhub.web.support import WebRoute, reading

router = APIRouter(route_class=WebRoute, include_in_schema=False)
OUTCOMES = ("add", "modify", "delete", "unchanged", "error", "warning")


def _type_label(ctx: Any, kind: str) -> str:
    return {"revert_preview": ctx._("Revert preview (dry run)"), "revert": ctx._("Revert")}.get(kind) or \
        task_type_label(ctx, kind)


def _mode_label(ctx: Any, mode: str) -> str:
    return {"revert": ctx._("Users changed after the import are left as they are"),
            "revert-force": ctx._("Users changed after the import are put back too")}.get(mode) or mode_label(ctx, mode)


def _labels() -> dict[str, Any]:
    return {"status_label": status_label, "type_label": _type_label, "mode_label": _mode_label}


@router.get("/tasks")
def task_list(request: Request):
    ctx = opened(request)
    page = page_args(request)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        rows = tasks.list_tasks(s, ctx.caller, offset=(page - 1) * PAGE, limit=PAGE + 1)
        return {"rows": rows[:PAGE], "more": len(rows) > PAGE,
                "names": customers.names(s, ctx.caller, (t.customer_id for t in rows)),
                "reverted_by": tasks.reverted_by(s, [t.id for t in rows[:PAGE]])}

    return show(ctx, None, "tasks.html", load, hub=False, page=page, progress=tasks.task_progress, finished=FINISHED,
                **_labels())


@router.get("/customers/{cid}/hub/tasks")
def hub_tasks(request: Request, cid: str):
    ctx = opened(request)

    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        rows = tasks.list_tasks(s, ctx.caller, customer.id, limit=PAGE)
        return {"rows": rows, "names": {customer.id: customer.name},
                "reverted_by": tasks.reverted_by(s, [t.id for t in rows])}

    return show(ctx, cid, "tasks.html", load, more=False, page=1, progress=tasks.task_progress, finished=FINISHED,
                **_labels())


@router.get("/tasks/{tid}")
def task_detail(request: Request, tid: str):
    ctx = opened(request)
    outcome = request.query_params.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    page = page_args(request)

    def load(s: Session, _customer: Customer | None) -> dict[str, Any]:
        task = tasks.get_task(s, ctx.caller, tid)
        rows = tasks.task_rows(s, ctx.caller, task.id, outcome or None, offset=(page - 1) * PAGE, limit=PAGE + 1)
        # A preview's deletions come first, before anything else on the page.
        deletions = (tasks.task_rows(s, ctx.caller, task.id, "delete", limit=PAGE)
                     if task.type == "csv_preview" and task.deleted else [])
        return {"deletions": deletions,"task": task, "customer": access.get_customer(s, ctx.caller, task.customer_id),
                "rows": rows[:PAGE], "more": len(rows) > PAGE, "progress": tasks.task_progress(task),
                "running": task.status not in FINISHED, "applied": tasks.applied_import_of(s, ctx.caller, task.id),
                "reverted_by": tasks.reverted_by(s, [task.id]).get(task.id, []),
                "revertible": tasks.is_revertible(task)}

    return show(ctx, None, "task.html", load, page=page, outcome=outcome, display_name=display_name,
                row_message=row_message, **_labels())


@router.get("/tasks/{tid}/progress")
def task_progress(request: Request, tid: str):
    ctx = opened(request)
    with reading(ctx) as s:
        task = tasks.get_task(s, ctx.caller, tid)
        body = {"status": task.status, "finished": task.status in FINISHED, **tasks.task_progress(task),
                "label": status_label(ctx, task.status)}
    return JSONResponse(body)


@router.post("/tasks/{tid}/apply")
def task_apply(request: Request, tid: str):
    ctx = opened(request, write=True)
    with ctx.db.unit_of_work() as s:
        task = tasks.apply_preview(s, ctx.caller, tid, quota_bytes=request.app.state.settings.task_file_quota_bytes)
        new_id = task.id
    return RedirectResponse(f"/tasks/{new_id}", status_code=303)


@router.post("/tasks/{tid}/revert")
def task_revert(request: Request, tid: str):
    """"Revert this import": queue a dry run of the revert first (as a CSV preview); its page applies it."""
    ctx = opened(request, write=True)
    force = ctx.form.get("force") == "1"
    with ctx.db.unit_of_work() as s:
        new_id = tasks.start_revert(s, ctx.caller, tid, dry_run=True, force=force).id
    return RedirectResponse(f"/tasks/{new_id}", status_code=303)


@router.get("/tasks/{tid}/errors.csv")
def task_errors(request: Request, tid: str):
    ctx = opened(request)
    body = exports.error_report(ctx.db, ctx.caller, tid)
    return StreamingResponse(body, media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-errors.csv"'})
