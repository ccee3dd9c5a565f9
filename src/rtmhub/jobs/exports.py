"""CSV downloads read from the database: a customer's users and a task's error report, streamed.

Each owns its units of work (the export reads the users a chunk per transaction, so a large
organisation is never held in memory); the CSV itself is written by rtmhub.csvfile.export.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import and_, or_, select

from rtmhub.csvfile.export import error_report_csv, export_csv, export_headers, export_row
from rtmhub.csvfile.workbook import export_xlsx
from rtmhub.db import Database
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.access.service import get_customer
from rtmhub.domain.locations.models import Location
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.tasks import service as tasks
from rtmhub.domain.users.models import User


def export_users(db: Database, caller: Caller, customer_id: str, fmt: str = "csv") -> Iterator[bytes]:
    """The customer's users in the import format, streamed in chunks; licence headers carry the subscription
    of the customer's partner, as Control Hub's export does. ``fmt`` "xlsx" writes an Excel workbook."""
    with db.unit_of_work(write=False) as s:
        customer = get_customer(s, caller, customer_id)
        names = {i: n for i, n in s.execute(select(Location.id, Location.name)
                                            .where(Location.customer_id == customer.id))}
        cid = customer.id
        partner = s.get(Partner, customer.partner_id)  # its subscription supplies the customer's licences
        subscription = partner.subscription_id if partner else None

    def rows() -> Iterator[list[str]]:
        last_created: datetime | None = None
        last_id = ""
        while True:
            with db.unit_of_work(write=False) as s:
                stmt = select(User).where(User.customer_id == cid)
                if last_created is not None:
                    stmt = stmt.where(or_(User.created > last_created,
                                          and_(User.created == last_created, User.id > last_id)))
                chunk = list(s.scalars(stmt.order_by(User.created, User.id).limit(2000)))
                # rendered while the session is open: its end expires the rows (DetachedInstanceError after)
                rendered = [export_row(user, names) for user in chunk]
                if chunk:
                    last_created, last_id = chunk[-1].created, chunk[-1].id
            if not chunk:
                return
            yield from rendered

    if fmt == "xlsx":
        return export_xlsx(rows(), export_headers(subscription))
    return export_csv(rows(), subscription)


def error_report(db: Database, caller: Caller, task_id: str) -> Iterator[bytes]:
    """The failed rows with an added Error column, ready to fix and upload again."""
    with db.unit_of_work(write=False) as s:
        failed = tasks.failed_rows(s, caller, task_id)
    return error_report_csv(failed)


__all__ = ["error_report", "export_users"]
