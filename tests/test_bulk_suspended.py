"""R53 on the bulk path: a sub-partner suspended after its customer's import was queued stops the import's
adds and changes exactly as a single request is stopped, while deletes still go through. The set-wise
batch (decision 12) and the row-by-row replay must answer alike. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import OPERATOR
from rtmhub.domain.partners.models import Partner
from rtmhub.domain.tasks.models import Task, TaskRow
from rtmhub.domain.users.models import User
from rtmhub.jobs import runner
from rtmhub.jobs.imports import submit_import
from tests.bulk_support import PACKAGE_HEADERS, csv_bytes, person

AINO = "aino@alihankkija.example"  # world: customer of sub-partner A1, Webex Meetings


@pytest.mark.parametrize("batch_rows", [500, 1], ids=["one batch", "a batch per row"])
def test_suspended_sub_partner_stops_adds_but_not_deletes(db, world, batch_rows):
    rows = [person("new.one@alihankkija.example", "Webex Meetings"),
            {"User ID/Email (Required)": AINO, **{h: "FALSE" for h in PACKAGE_HEADERS}},
            person("new.two@alihankkija.example", "Webex Meetings")]
    with db.unit_of_work() as s:
        task = submit_import(s, OPERATOR, world.raw["ca1"], file_name="users.csv", content=csv_bytes(rows),
                             mode="add-remove", preview=False)
        task_id = task.id
    with db.unit_of_work() as s:  # suspended after the upload, before a worker runs the task
        s.get(Partner, world.raw["pa1"]).provisioning_state = "suspended"
    assert runner.run_pending(db, "test-worker", batch_rows=batch_rows)
    with db.unit_of_work(write=False) as s:
        task = s.get(Task, task_id)
        counts = (task.status, task.added, task.deleted, task.failed)
        results = {r.line: (r.outcome, r.messages or []) for r in s.scalars(
            select(TaskRow).where(TaskRow.task_id == task_id))}
        emails = set(s.scalars(select(User.email_key).where(User.customer_id == world.raw["ca1"])))
    assert counts == ("completed_with_errors", 0, 1, 2), results
    for line in (2, 4):
        outcome, messages = results[line]
        assert outcome == "error" and any("suspended" in m["message"] for m in messages), results[line]
    assert results[3][0] == "delete"
    assert emails == set()  # nothing added; the one user deleted
