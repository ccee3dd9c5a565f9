"""Control Hub users: list, manage, manual add, CSV page/upload/export/template, directory sync, one user,
change package. Fixed paths (add, csv, manage, …) are declared before ``/hub/users/{uid}``."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from rtmhub.csvfile import export as csv_export
from rtmhub.csvfile.workbook import XLSX_TYPE
from rtmhub.domain.access import service as access
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.customers import service as customers
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.directory import service as directory
from rtmhub.domain.locations import service as locations
from rtmhub.domain.packages.models import CALLING_PACKAGES, USER_PACKAGES, display_name
from rtmhub.domain.tasks.models import CHUNK_BYTES
from rtmhub.domain.users import service as users
from rtmhub.domain.users.schemas import UserFields, UserFilter
from rtmhub.domain.validation import CALLER_ID_NAME_MAX
from rtmhub.errors import AllocationExceeded, DomainError
from rtmhub.jobs import exports, imports
from rtmhub.web.forms import (
    CSV_TYPE,
    PAGE,
    Errors,
    FormInvalid,
    allocation_message,
    customer_page,
    errors_of,
    form_fields,
    localised,
    opened,
    page_args,
    show,
    status_label,
    submit,
)
from rtmhub.web.support import WebRoute, reading, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ROW_FIELDS = ("email", "firstName", "lastName", "package", "extension", "phoneNumber", "locationId")
FIELD_NAMES = {"first_name": "firstName", "last_name": "lastName", "phone_number": "phoneNumber",
               "location_id": "locationId", "callerIdFirstName": "firstName", "callerIdLastName": "lastName",
               "callerIdNumber": "phoneNumber"}


@router.get("/customers/{cid}/hub")
def hub_home(request: Request, cid: str):
    opened(request)
    return RedirectResponse(f"/customers/{cid}/hub/users", status_code=303)


@router.get("/customers/{cid}/hub/users")
def hub_users(request: Request, cid: str):
    q = request.query_params.get("q", "").strip()[:100]
    package = request.query_params.get("package", "")
    package = package if package in (*USER_PACKAGES, "none") else ""
    page = page_args(request)

    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        flt = UserFilter(search=q or None, package=package or None)
        offset = (page - 1) * PAGE
        rows = users.list_users(s, customer, flt, offset=offset, limit=PAGE)
        # A page that is not full ends the list, which gives the total without counting (a search scans
        # every user of the customer: once, not twice).
        total = offset + len(rows) if 0 < len(rows) < PAGE else users.count_users(s, customer, flt)
        return {"total": total, "pages": max(1, math.ceil(total / PAGE)), "rows": rows,
                "options": customers.package_choices(s, customer)}

    return customer_page(request, cid, "hub_users.html", load, q=q, package=package, page=page,
                         display_name=display_name, status_label=status_label,
                         added=request.query_params.get("added"))


@router.get("/customers/{cid}/hub/users/manage")
def hub_manage(request: Request, cid: str):
    return customer_page(request, cid, "hub_manage.html")


# --- manual add (R11, D7) --------------------------------------------------------------------

def _add_values(s: Session, customer: Customer | None) -> dict[str, Any]:
    assert customer is not None
    sites, default_site = users.site_choices(s, customer)
    return {"options": customers.package_choices(s, customer), "locations": locations.list_locations(s, customer),
            "sites": sites, "default_site": default_site,
            "directory_owned": directory.sync_enabled(s, customer.id)}  # R12


@router.get("/customers/{cid}/hub/users/add")
def add_users_page(request: Request, cid: str):
    ctx = opened(request, write=True)
    try:
        count = max(1, min(int(request.query_params.get("rows", "5")), users.MANUAL_ADD_MAX))
    except ValueError:
        count = 5
    rows = [{"values": {}, "errors": {}, "added": False} for _ in range(count)]
    return show(ctx, cid, "hub_add.html", _add_values, write=True, rows=rows, form_error=None,
                max_rows=users.MANUAL_ADD_MAX, site=None)


@router.post("/customers/{cid}/hub/users/add")
def add_users(request: Request, cid: str):
    """Each user is added whole or refused alone (``users.add_many``); the page is shown again with the
    refused rows (400) and the added ones marked, so a second post adds only what is left."""
    ctx = opened(request, write=True)
    form = ctx.form
    try:
        count = max(0, min(int(str(form.get("rows", "0"))), users.MANUAL_ADD_MAX))
    except ValueError:
        count = 0
    rows: list[dict[str, Any]] = []
    for i in range(count):
        values = {f: str(form.get(f"r{i}.{f}", "")).strip()[:300] for f in ROW_FIELDS}
        added = str(form.get(f"r{i}.added", "")) == "1"
        rows.append({"values": values, "errors": {}, "added": added})
    pending = [r for r in rows if not r["added"] and any(v for k, v in r["values"].items() if k != "locationId")]
    form_error = None
    site = str(form.get("site", "")).strip()[:300] or None
    owned = False
    with ctx.db.unit_of_work() as s:
        customer = access.get_customer(s, ctx.caller, cid, write=True)
        if directory.sync_enabled(s, customer.id):  # R12: users come from the directory
            owned = True
            form_error = ctx._("Directory synchronisation is on for this organisation: users come from the "
                               "directory. Add the user in the directory; packages and calling data can then be "
                               "set here.")
        elif not pending:
            form_error = ctx._("Enter at least one user: an e-mail address and a package.")
        elif site is not None and site not in users.site_choices(s, customer)[0]:
            form_error = ctx._("Choose one of the organisation's Webex sites.")
        else:
            entries = []
            for r in pending:
                v = r["values"]
                fields: dict[str, Any] = {"email": v["email"] or None, "first_name": v["firstName"] or None,
                                          "last_name": v["lastName"] or None, "package": v["package"] or None}
                if users.enters_calling(None, v["package"]):  # a new user's calling data (R20, R21)
                    fields.update(extension=v["extension"] or None, phone_number=v["phoneNumber"] or None,
                                  location_id=v["locationId"] or None)
                entries.append(UserFields(**fields))
            results = users.add_many(s, ctx.caller, customer, entries, site=site)
            for r, result in zip(pending, results, strict=False):
                if isinstance(result, AllocationExceeded):
                    r["errors"] = {"package": [allocation_message(ctx, s, customer, r["values"]["package"])]}
                elif isinstance(result, DomainError):
                    r["errors"] = errors_of(ctx, result, FIELD_NAMES, default="email")
                else:
                    r["added"] = True
                    r["new"] = True
        values = _add_values(s, customer)
    failed = [r for r in pending if r["errors"]]
    if pending and not failed and not form_error:
        done = [r for r in rows if r["added"]]
        return render(ctx, "hub_added.html", customer=customer, hub=True, rows=done, display_name=display_name)
    for r in rows:
        if r["errors"]:
            r["error_ids"] = sorted(r["errors"])
    return render(ctx, "hub_add.html", http_status=403 if owned else 400 if failed or form_error else 200,
                  customer=customer, hub=True,
                  rows=rows, form_error=form_error, max_rows=users.MANUAL_ADD_MAX, site=site, **values)


# --- CSV -------------------------------------------------------------------------------------

@router.get("/customers/{cid}/hub/users/csv")
def csv_page(request: Request, cid: str):
    return customer_page(request, cid, "hub_csv.html", write=True, errors={}, mode="add")


def _measure(file: BinaryIO) -> tuple[int, bool]:
    """Size of the uploaded (spooled) file and whether it holds only white space, read a chunk at a time;
    the file is rewound for storing."""
    size, blank = 0, True
    while data := file.read(CHUNK_BYTES):
        size += len(data)
        blank = blank and not data.strip()
    file.seek(0)
    return size, blank


@router.post("/customers/{cid}/hub/users/csv")
def csv_upload(request: Request, cid: str):
    ctx = opened(request, write=True)
    form = ctx.form
    upload = form.get("file")
    mode = str(form.get("mode", "add"))
    mode = mode if mode in ("add", "add-remove") else "add"
    sheet = str(form.get("sheet") or "").strip()[:200] or None
    errors: Errors = {}
    settings = request.app.state.settings
    if upload is None or isinstance(upload, str) or not upload.filename:
        errors["file"] = [ctx._("Choose a CSV file to upload.")]
    else:
        size, blank = _measure(upload.file)
        if size > settings.max_upload_bytes:
            errors["file"] = [ctx._("The file is too large.")]
        elif blank:
            errors["file"] = [ctx._("The file is empty.")]

    def work(s: Session) -> str:
        access.get_customer(s, ctx.caller, cid, write=True)
        task = imports.submit_import(s, ctx.caller, cid, file_name=upload.filename, content=upload.file, mode=mode,
                                     preview=True, max_rows=settings.csv_max_rows or None,
                                     max_bytes=settings.max_upload_bytes, quota_bytes=settings.task_file_quota_bytes,
                                     sheet=sheet)
        return f"/tasks/{task.id}"

    return submit(ctx, work, lambda found: show(ctx, cid, "hub_csv.html", errors=found, mode=mode), errors=errors,
                  explain=lambda exc: {"file": [localised(ctx, None, None, e.description) for e in exc.errors]})


@router.get("/customers/{cid}/hub/users/export.csv")
def export_csv(request: Request, cid: str):
    ctx = opened(request)
    with reading(ctx) as s:
        customer = access.get_customer(s, ctx.caller, cid)
        customer_id = customer.id
    return StreamingResponse(exports.export_users(ctx.db, ctx.caller, customer_id), media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users.csv"'})


@router.get("/customers/{cid}/hub/users/export.xlsx")
def export_xlsx(request: Request, cid: str):
    ctx = opened(request)
    with reading(ctx) as s:
        customer_id = access.get_customer(s, ctx.caller, cid).id
    return StreamingResponse(exports.export_users(ctx.db, ctx.caller, customer_id, "xlsx"), media_type=XLSX_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users.xlsx"'})


@router.get("/customers/{cid}/hub/users/template.csv")
def template_csv(request: Request, cid: str):
    ctx = opened(request)
    with reading(ctx) as s:
        access.get_customer(s, ctx.caller, cid)
    return StreamingResponse(csv_export.template(), media_type=CSV_TYPE,
                             headers={"Content-Disposition": 'attachment; filename="rtmhub-users-template.csv"'})


# --- directory synchronisation (issue 10) ----------------------------------------------------------

DIRSYNC = "/customers/{cid}/hub/users/directory-sync"


def _dirsync_values(ctx: Any):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        base = ctx.request.app.state.settings.base_url(str(ctx.request.base_url))
        return {"status": directory.status(s, ctx.caller, customer.id, base),
                "mappings": directory.list_mappings(s, ctx.caller, customer.id),
                "groups": directory.list_groups(s, customer),
                "options": [o for o in customers.package_choices(s, customer) if o.id in USER_PACKAGES],
                "locations": locations.list_locations(s, customer),
                "events": directory.recent_events(s, customer)}

    return load


def _operation_labels(ctx: Any) -> dict[str, str]:
    """The sync log's operation codes in the reader's language (a refused SCIM write shows its method and path)."""
    _ = ctx._
    return {"enable": _("Sync turned on"), "disable": _("Sync turned off"), "token.create": _("Token created"),
            "map": _("Group mapped"), "unmap": _("Mapping removed"), "user.create": _("User created"),
            "user.replace": _("User replaced"), "user.patch": _("User changed"), "user.delete": _("User deleted"),
            "group.create": _("Group created"), "group.replace": _("Group replaced"),
            "group.patch": _("Group changed"), "group.delete": _("Group deleted"),
            "package.grant": _("Package given"), "package.remove": _("Package removed"),
            "package.wait": _("Waiting for the package")}


def _dirsync_page(ctx: Any, cid: str, **values: Any):
    values = {"token": None, "form": {}, "errors": {}, "done": "", "operations": _operation_labels(ctx), **values}
    return show(ctx, cid, "hub_dirsync.html", _dirsync_values(ctx), display_name=display_name,
                can_manage=ctx.can_write and not directory.is_directory(ctx.caller), **values)


@router.get("/customers/{cid}/hub/users/directory-sync")
def directory_sync(request: Request, cid: str):
    ctx = opened(request)
    return _dirsync_page(ctx, cid, done=request.query_params.get("done", "")[:20])


def _switch(request: Request, cid: str, turn: Callable[[Session, Caller, str], object], done: str):
    """Turns directory sync on or off; the page again with what was done, or with the refusal."""
    ctx = opened(request, write=True)

    def work(s: Session) -> str:
        turn(s, ctx.caller, cid)
        return DIRSYNC.format(cid=cid) + "?done=" + done

    return submit(ctx, work, lambda errors: _dirsync_page(ctx, cid, errors=errors))


@router.post("/customers/{cid}/hub/users/directory-sync/enable")
def directory_enable(request: Request, cid: str):
    return _switch(request, cid, directory.enable, "enabled")


@router.post("/customers/{cid}/hub/users/directory-sync/disable")
def directory_disable(request: Request, cid: str):
    return _switch(request, cid, directory.disable, "disabled")


@router.post("/customers/{cid}/hub/users/directory-sync/token")
def directory_token(request: Request, cid: str):
    """A new directory token, shown once on the page that answers (never in a URL or a redirect)."""
    ctx = opened(request, write=True)
    read_only = str(ctx.form.get("scope", "")) == "read"
    try:
        with ctx.db.unit_of_work() as s:
            _, token = directory.create_token(s, ctx.caller, cid, read_only=read_only)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _dirsync_page(ctx, cid, errors=errors_of(ctx, exc, default="_form"))
    return _dirsync_page(ctx, cid, token=token, token_scope=directory.SCOPE_READ if read_only else directory.SCOPE_RW)


@router.post("/customers/{cid}/hub/users/directory-sync/map")
def directory_map(request: Request, cid: str):
    ctx = opened(request, write=True)
    f = form_fields(ctx, 300)

    def work(s: Session) -> str:
        try:
            priority = int(f.get("priority") or "0")
        except ValueError:
            raise FormInvalid({"priority": [ctx._("Enter a whole number.")]}) from None
        if not f.get("group"):
            raise FormInvalid({"group": [ctx._("Choose a group.")]})
        if f.get("package") not in USER_PACKAGES:
            raise FormInvalid({"package": [ctx._("Choose a package.")]})
        directory.map_group(s, ctx.caller, cid, group=f["group"], package=f["package"],
                            location=f.get("location") or None, priority=priority)
        return DIRSYNC.format(cid=cid) + "?done=mapped"

    return submit(ctx, work, lambda errors: _dirsync_page(ctx, cid, form=f, errors=errors), default="group")


@router.post("/customers/{cid}/hub/users/directory-sync/unmap")
def directory_unmap(request: Request, cid: str):
    ctx = opened(request, write=True)
    f = form_fields(ctx, 300)

    def work(s: Session) -> str:
        directory.unmap_group(s, ctx.caller, cid, group=f.get("group", ""))
        return DIRSYNC.format(cid=cid) + "?done=unmapped"

    return submit(ctx, work, lambda errors: _dirsync_page(ctx, cid, errors=errors))


# --- one user --------------------------------------------------------------------------------

@router.get("/customers/{cid}/hub/users/{uid}")
def user_detail(request: Request, cid: str, uid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        user = users.get_user(s, customer, uid)
        return {"user": user, "external": users.is_external(user, customer),
                "location": locations.get_location(s, customer, user.location_id) if user.location_id else None}

    return customer_page(request, cid, "hub_user.html", load, display_name=display_name, status_label=status_label,
                         changed=request.query_params.get("changed") == "1",
                         kept=request.query_params.get("kept") == "1")


# The change-package page's own fields keep their names (its caller ID fields are on the page).
PACKAGE_FIELD_NAMES = {"phone_number": "phoneNumber", "location_id": "locationId"}


def _change_values(uid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        assert customer is not None
        user = users.get_user(s, customer, uid)
        location = locations.get_location(s, customer, user.location_id) if user.location_id else None
        return {"user": user, "options": customers.package_choices(s, customer),
                "locations": locations.list_locations(s, customer), "location": location,
                "calling": user.package in CALLING_PACKAGES, "caller_id_max": CALLER_ID_NAME_MAX}

    return load


@router.get("/customers/{cid}/hub/users/{uid}/package")
def change_package_page(request: Request, cid: str, uid: str):
    def load(s: Session, customer: Customer | None) -> dict[str, Any]:
        values = _change_values(uid)(s, customer)
        user = values["user"]
        # Entering calling asks for new caller ID data (R33), pre-filled from the user's names.
        values["form"] = {"package": user.package or "",
                          "callerIdFirstName": (user.first_name or "")[:CALLER_ID_NAME_MAX],
                          "callerIdLastName": (user.last_name or "")[:CALLER_ID_NAME_MAX]}
        return values

    return customer_page(request, cid, "hub_package.html", load, write=True, errors={}, display_name=display_name)


@router.post("/customers/{cid}/hub/users/{uid}/package")
def change_package(request: Request, cid: str, uid: str):
    ctx = opened(request, write=True)
    f = form_fields(ctx, 300)
    new = f.get("package", "")
    calling_data = bool(f.get("extension") or f.get("phoneNumber"))

    def work(s: Session) -> str:
        customer = access.get_customer(s, ctx.caller, cid, write=True)
        user = users.get_user(s, customer, uid)
        if new not in USER_PACKAGES:
            raise FormInvalid({"package": [ctx._("Choose a package.")]})
        fields: dict[str, Any] = {"package": new}
        entering = users.enters_calling(user.package, new)  # then the form's calling data is used (R33)
        if entering:
            fields.update(extension=f.get("extension") or None, phone_number=f.get("phoneNumber") or None,
                          location_id=f.get("locationId") or None,
                          caller_id_number=f.get("callerIdNumber") or None,
                          caller_id_first_name=f.get("callerIdFirstName") or None,
                          caller_id_last_name=f.get("callerIdLastName") or None)
        elif new in CALLING_PACKAGES:
            # Already calling (e.g. a form opened before another change made the user calling): R46 keeps
            # the user's number, extension and location; new ones are ignored with a notice.
            fields.update({name: f[key] for key, name in (("extension", "extension"), ("phoneNumber", "phone_number"),
                                                         ("locationId", "location_id")) if f.get(key)})
        try:
            warnings = users.change_package(s, ctx.caller, customer, user, UserFields(**fields),
                                            calling_data_given=calling_data if entering else None)
        except AllocationExceeded:
            raise FormInvalid({"package": [allocation_message(ctx, s, customer, new)]}) from None
        except DomainError as exc:
            errors = errors_of(ctx, exc, PACKAGE_FIELD_NAMES, default="package")
            if "package" in errors and entering and not calling_data:
                errors.pop("package")
                errors.setdefault("phoneNumber", []).insert(0, ctx._(
                    "{package} needs caller ID data: enter a phone number and/or an extension, and choose a "
                    "location.", package=display_name(new)))
            raise FormInvalid(errors) from None
        return f"/customers/{cid}/hub/users/{uid}?changed=1" + ("&kept=1" if warnings else "")

    return submit(ctx, work, lambda errors: show(ctx, cid, "hub_package.html", _change_values(uid), form=f,
                                                 errors=errors, display_name=display_name))
