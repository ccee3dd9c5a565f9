"""Issue 9 item 6: revert an import. An import of 5 adds, 2 modifications and 1 delete is reverted through
the API: every user, package use and calling data as before; a user changed again after the import fails
alone (force puts it back too); a dry run changes nothing; reverting the revert re-applies the import.
Misuse answers 409 / 404 in the upstream error shape. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import select
from typer.testing import CliRunner

from rtmhub import ids
from rtmhub.cli.main import app as cli
from rtmhub.domain.customers.models import Customer, CustomerPackage
from rtmhub.domain.tasks import revert as reverts
from rtmhub.domain.users import service as users_service
from rtmhub.domain.users.models import User
from rtmhub.domain.users.schemas import UserFields
from rtmhub.settings import get_settings
from tests.bulk_support import (
    PACKAGE_HEADERS, csv_bytes, error_text, person, rows, run, set_allocation, wait,
)
from tests.conftest import OPERATOR

cli_runner = CliRunner()

HQ = "Helsinki HQ"
MATTI = "matti.meikalainen@asiakas.example"
CHANGED = "muuttuva.kalle@asiakas.example"
LEAVING = "lahtija.liisa@asiakas.example"
ADDS = ["uusi.yksi@asiakas.example", "uusi.kaksi@asiakas.example", "uusi.kolme@asiakas.example",
        "soittaja.nelja@asiakas.example", "soittaja.viisi@asiakas.example"]


def organisation(db, customer_raw: str) -> dict:
    """Every user's full snapshot by e-mail (the ids of users that were not deleted and re-created too),
    and the customer's package use."""
    with db.unit_of_work(write=False) as s:
        people = {u.email_key: (u.id, users_service.snapshot(u))
                  for u in s.scalars(select(User).where(User.customer_id == customer_raw))}
        used = dict(s.execute(select(CustomerPackage.package, CustomerPackage.used)
                              .where(CustomerPackage.customer_id == customer_raw)).all())
    return {"users": people, "used": used}


def same(a: dict, b: dict, recreated: tuple[str, ...] = ()) -> None:
    assert a["used"] == b["used"]
    assert set(a["users"]) == set(b["users"])
    for email, (uid, snap) in a["users"].items():
        assert snap == b["users"][email][1], email
        if email not in recreated:
            assert uid == b["users"][email][0], email


def add_user(db, customer_raw: str, **fields) -> None:
    with db.unit_of_work() as s:
        users_service.create_user(s, OPERATOR, s.get(Customer, customer_raw), UserFields(**fields))


def setup_and_import(client, world, db) -> dict:
    ca = world.raw["ca"]
    add_user(db, ca, email=CHANGED, first_name="Kalle", last_name="Muuttuva", package="webex_calling",
             extension="1101", phone_number="+358912345611", location_id=world.raw["loc_ca"], title="Myyjä")
    add_user(db, ca, email=LEAVING, first_name="Liisa", last_name="Lähtijä", package="webex_calling",
             extension="1102", phone_number="+358912345612", location_id=world.raw["loc_ca"],
             caller_id_first_name="Liisa L", department="Myynti")
    content = csv_bytes([
        person(ADDS[0], "Webex Meetings"),
        person(ADDS[1], "Webex Meetings", Title="Uusi"),
        person(ADDS[2], "Webex Suite", Extension="2003", Location=HQ),
        person(ADDS[3], "Webex Calling", Extension="2004", Location=HQ, **{"Phone Number": "+358912345614"}),
        person(ADDS[4], "Webex Calling", Extension="2005", Location=HQ),
        # Matti: a new title; Kalle leaves calling (his number and extension are freed) for Meetings
        person(MATTI, "Webex Calling", Extension="1001", Location=HQ, Title="Päällikkö",
               **{"Last Name": "Meikäläinen", "Phone Number": "+358912345601"}),
        person(CHANGED, "Webex Meetings", **{"First Name": "Kalle", "Last Name": "Muuttuva"}),
        person(LEAVING, None, **{h: "FALSE" for h in PACKAGE_HEADERS}),
    ])
    before = organisation(db, ca)
    task, rs = run(client, world, content, mode="add-remove", preview=False)
    assert task["type"] == "csv_import"
    assert task["counts"] | {"warnings": 0} == {"added": 5, "modified": 2, "deleted": 1, "unchanged": 0,
                                                "failed": 0, "warnings": 0}, (task, rs)
    return {"before": before, "task": task, "after": organisation(db, ca)}


def revert(client, world, task_id: str, who: str = "a_full", **body) -> dict:
    r = client.post(f"/v1/tasks/{task_id}/revert", headers=world.auth(who), json=body or None)
    assert r.status_code == 202, r.text
    return wait(client, world, r.json()["id"], who=who)


def test_revert_puts_the_organisation_back_and_reverting_the_revert_reapplies(client, world, db):
    ca = world.raw["ca"]
    state = setup_and_import(client, world, db)
    imported = state["task"]
    assert organisation(db, ca)["used"] != state["before"]["used"]

    done = revert(client, world, imported["id"])
    assert done["type"] == "revert" and done["status"] == "completed", done
    assert done["revertsTaskId"] == imported["id"]
    assert done["counts"] | {"warnings": 0} == {"added": 1, "modified": 2, "deleted": 5, "unchanged": 0,
                                                "failed": 0, "warnings": 0}, done
    # the organisation is exactly as before the import: every user's full snapshot (calling data, caller ID,
    # base licences…), the ids of every user but the re-created one, and the units used per package
    same(organisation(db, ca), state["before"], recreated=(LEAVING,))
    rs = rows(client, world, done["id"])
    assert [r["outcome"] for r in rs.values()] == ["delete"] * 5 + ["modify"] * 2 + ["add"], rs
    assert {r["email"] for r in rs.values()} == {*ADDS, MATTI, CHANGED, LEAVING}

    # the import and its revert are linked both ways, in the task, the list and the CLI's source
    got = client.get(f"/v1/tasks/{imported['id']}", headers=world.auth("a_full")).json()
    assert got["revertedBy"] == [done["id"]] and got["revertsTaskId"] is None
    listed = {t["id"]: t for t in client.get("/v1/tasks", headers=world.auth("a_full"),
                                             params={"orgId": world.ids["ca_org"]}).json()["items"]}
    assert listed[imported["id"]]["revertedBy"] == [done["id"]]
    assert listed[done["id"]]["revertsTaskId"] == imported["id"]

    # reverting the revert applies the import again
    again = revert(client, world, done["id"])
    assert again["status"] == "completed" and again["revertsTaskId"] == done["id"], again
    assert again["counts"]["added"] == 5 and again["counts"]["modified"] == 2 and again["counts"]["deleted"] == 1
    same(organisation(db, ca), state["after"], recreated=tuple(ADDS))


def test_a_user_changed_after_the_import_fails_alone_and_force_reverts_it(client, world, db):
    ca = world.raw["ca"]
    state = setup_and_import(client, world, db)
    with db.unit_of_work(write=False) as s:
        kalle = s.scalar(select(User.id).where(User.email_key == CHANGED))
    r = client.put(f"/v1/people/{ids.encode('PEOPLE', kalle)}", headers=world.auth("a_full"),
                   json={"firstName": "Kalevi"})
    assert r.status_code == 200, r.text
    edited = organisation(db, ca)["users"][CHANGED]

    done = revert(client, world, state["task"]["id"])
    assert done["status"] == "completed_with_errors" and done["counts"]["failed"] == 1, done
    failed = rows(client, world, done["id"], outcome="error")
    assert [r["email"] for r in failed.values()] == [CHANGED]
    text = error_text(next(iter(failed.values())))
    assert "changed after the task" in text and "firstName" in text and "force" in text, text
    # the rest is reverted; Kalle keeps the later change (and his Meetings unit)
    now = organisation(db, ca)
    assert now["users"][CHANGED] == edited
    expected = {**state["before"], "users": {**state["before"]["users"], CHANGED: edited}}
    expected["used"] = {**state["before"]["used"],
                        "webex_calling": state["before"]["used"]["webex_calling"] - 1,
                        "webex_meetings": state["before"]["used"]["webex_meetings"] + 1}
    same(now, expected, recreated=(LEAVING,))

    # force: the changed user is put back too; the users already reverted are left as they are
    forced = revert(client, world, state["task"]["id"], force=True)
    assert forced["mode"] == "revert-force" and forced["status"] == "completed", forced
    assert forced["counts"]["modified"] == 1 and forced["counts"]["failed"] == 0, forced
    same(organisation(db, ca), state["before"], recreated=(LEAVING,))


def test_dry_run_changes_nothing_and_applying_it_reverts(client, world, db):
    ca = world.raw["ca"]
    state = setup_and_import(client, world, db)
    preview = revert(client, world, state["task"]["id"], dryRun=True)
    assert preview["type"] == "revert_preview" and preview["status"] == "completed", preview
    assert preview["counts"]["deleted"] == 5 and preview["counts"]["added"] == 1
    same(organisation(db, ca), state["after"])  # nothing changed
    assert preview["allocations"]["webex_calling"]["used"] == state["before"]["used"]["webex_calling"]
    # the imported task is not "reverted" by a dry run
    got = client.get(f"/v1/tasks/{state['task']['id']}", headers=world.auth("a_full")).json()
    assert got["revertedBy"] == []

    r = client.post(f"/v1/tasks/{preview['id']}/apply", headers=world.auth("a_full"))
    assert r.status_code == 202, r.text
    applied = wait(client, world, r.json()["id"])
    assert applied["type"] == "revert" and applied["previewOf"] == preview["id"], applied
    assert rows(client, world, applied["id"]) == rows(client, world, preview["id"])
    same(organisation(db, ca), state["before"], recreated=(LEAVING,))


def test_a_unit_taken_since_fails_that_row_alone(client, world, db):
    ca = world.raw["ca"]
    state = setup_and_import(client, world, db)
    # Another user takes the Calling unit Liisa's re-creation would need (allocation = what the revert leaves
    # without her): her row fails alone, saying the unit was taken.
    calling_before = state["before"]["used"]["webex_calling"]
    add_user(db, ca, email="myohainen@asiakas.example", first_name="Myö", last_name="Häinen",
             package="webex_calling", extension="3999", location_id=world.raw["loc_ca"])
    set_allocation(db, ca, "webex_calling", calling_before)
    done = revert(client, world, state["task"]["id"])
    failed = rows(client, world, done["id"], outcome="error")
    assert [r["email"] for r in failed.values()] == [LEAVING], failed
    text = error_text(next(iter(failed.values())))
    assert "was taken after the task" in text and "Webex Calling" in text, text
    assert done["counts"]["failed"] == 1


def test_misuse_answers_409_and_404(client, world, db):
    state = setup_and_import(client, world, db)
    h = world.auth("a_full")
    preview, _ = run(client, world, csv_bytes([person("esikatselu@asiakas.example", "Webex Meetings")]))
    r = client.post(f"/v1/tasks/{preview['id']}/revert", headers=h)
    assert r.status_code == 409 and "preview" in r.json()["message"], r.text
    assert r.json()["errors"][0]["description"] and r.json()["trackingId"]
    dry = revert(client, world, state["task"]["id"], dryRun=True)
    r = client.post(f"/v1/tasks/{dry['id']}/revert", headers=h)
    assert r.status_code == 409, r.text
    # a task that changed nothing
    nothing, _ = run(client, world, csv_bytes([person("x@@bad", "Webex Meetings")]), preview=False)
    r = client.post(f"/v1/tasks/{nothing['id']}/revert", headers=h)
    assert r.status_code == 409 and "nothing to revert" in r.json()["message"], r.text
    # unknown and foreign tasks: 404, like any task id
    r = client.post(f"/v1/tasks/{ids.encode('TASK', 'no-such-task')}/revert", headers=h)
    assert r.status_code == 404, r.text
    r = client.post(f"/v1/tasks/{state['task']['id']}/revert", headers=world.auth("b_full"))
    assert r.status_code == 404, r.text
    # a read-only admin may not revert (nor preview a revert)
    r = client.post(f"/v1/tasks/{state['task']['id']}/revert", headers=world.auth("a_readonly"))
    assert r.status_code == 403, r.text
    # the query form works like the body
    r = client.post(f"/v1/tasks/{state['task']['id']}/revert?dryRun=true", headers=h)
    assert r.status_code == 202 and r.json()["type"] == "revert_preview", r.text


def test_row_by_row_path_reverts_the_same(client, world, db):
    """The path a batch falls back to when the database refuses it (a concurrent writer): each user through
    the single-user services in its own SAVEPOINT gives the same organisation."""
    ca = world.raw["ca"]
    state = setup_and_import(client, world, db)
    source = ids.decode("TASK", state["task"]["id"])
    caller = replace(OPERATOR, request_id="row-by-row-revert")
    with db.unit_of_work() as s:
        customer = s.get(Customer, ca)
        user_ids = reverts.touched_users(s, source, ca)
        touched = reverts.load_touched(s, source, ca, user_ids)
        results = [reverts.revert_row(s, caller, customer, t, n, False) for n, t in enumerate(touched, 1)]
    assert [r.outcome for r in results] == ["delete"] * 5 + ["modify"] * 2 + ["add"], results
    same(organisation(db, ca), state["before"], recreated=(LEAVING,))


def test_cli_tasks_revert_dry_run_force_and_links(client, world, db, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        ca = world.raw["ca"]
        state = setup_and_import(client, world, db)
        task_id = state["task"]["id"]
        r = cli_runner.invoke(cli, ["tasks", "revert", task_id, "--dry-run"])
        assert r.exit_code == 0, r.output
        assert "dry run" in r.output
        same(organisation(db, ca), state["after"])
        with db.unit_of_work() as s:  # a change after the import
            kalle = s.scalar(select(User).where(User.email_key == CHANGED))
            users_service.update_user(s, OPERATOR, s.get(Customer, ca), kalle, UserFields(title="Johtaja"))
        r = cli_runner.invoke(cli, ["tasks", "revert", task_id])
        assert r.exit_code == 1, r.output
        assert "--force" in r.output and "1 user(s) not put back" in r.output, r.output
        r = cli_runner.invoke(cli, ["tasks", "revert", task_id, "--force"])
        assert r.exit_code == 0, r.output
        same(organisation(db, ca), state["before"], recreated=(LEAVING,))
        r = cli_runner.invoke(cli, ["tasks", "list", "--customer", world.ids["ca_org"], "--json"])
        assert r.exit_code == 0, r.output
        listed = {t["id"]: t for t in json.loads(r.output)}
        assert len(listed[task_id]["revertedBy"]) == 2  # the failed-row revert and the forced one
        assert all(listed[x]["revertsTaskId"] == task_id for x in listed[task_id]["revertedBy"])
        r = cli_runner.invoke(cli, ["tasks", "show", task_id])
        assert "reverted by" in r.output
        # misuse: a clear message, exit 1
        r = cli_runner.invoke(cli, ["tasks", "revert", "nonsense"])
        assert r.exit_code == 1 and "not found" in r.output, r.output
        preview, _ = run(client, world, csv_bytes([person("cli.esikatselu@asiakas.example", "Webex Meetings")]))
        r = cli_runner.invoke(cli, ["tasks", "revert", preview["id"]])
        assert r.exit_code == 1 and "preview" in r.output, r.output
    finally:
        get_settings.cache_clear()


def test_small_batches_dry_run_and_revert_carry_freed_numbers_across_batches(world, db):
    """One user per batch: the dry run's simulation and the applied revert's batches see what earlier batches
    freed (an added user's number, Liisa's before the import) exactly alike, and the result is the same."""
    from fastapi.testclient import TestClient

    from rtmhub.app import create_app
    from rtmhub.jobs import runner
    from rtmhub.settings import Settings

    ca = world.raw["ca"]
    add_user(db, ca, email=LEAVING, first_name="Liisa", last_name="Lähtijä", package="webex_calling",
             extension="1102", phone_number="+358912345612", location_id=world.raw["loc_ca"])
    app = create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)

    def drain() -> None:
        while runner.run_pending(db, "batch-test", batch_rows=1):
            pass

    with TestClient(app, base_url="http://testserver") as client:
        content = csv_bytes([
            person(LEAVING, None, **{h: "FALSE" for h in PACKAGE_HEADERS}),
            # takes the number and extension Liisa's deletion freed
            person(ADDS[3], "Webex Calling", Extension="1102", Location=HQ, **{"Phone Number": "+358912345612"}),
            person(ADDS[0], "Webex Meetings"),
            person(MATTI, "Webex Calling", Extension="1001", Location=HQ, Title="Päällikkö",
                   **{"Last Name": "Meikäläinen", "Phone Number": "+358912345601"}),
        ])
        before = organisation(db, ca)
        r = client.post("/v1/userImports", headers=world.auth("a_full"), files={"file": ("u.csv", content, "text/csv")},
                        data={"orgId": world.ids["ca_org"], "mode": "add-remove", "preview": "false"})
        assert r.status_code == 202, r.text
        drain()
        imported = wait(client, world, r.json()["id"])
        assert imported["counts"]["added"] == 2 and imported["counts"]["deleted"] == 1, imported
        after = organisation(db, ca)

        r = client.post(f"/v1/tasks/{imported['id']}/revert", headers=world.auth("a_full"), json={"dryRun": True})
        drain()
        preview = wait(client, world, r.json()["id"])
        assert preview["status"] == "completed" and preview["progress"]["totalRows"] == 4, preview
        same(organisation(db, ca), after)
        r = client.post(f"/v1/tasks/{preview['id']}/apply", headers=world.auth("a_full"))
        drain()
        done = wait(client, world, r.json()["id"])
        assert done["status"] == "completed", rows(client, world, done["id"])
        assert rows(client, world, done["id"]) == rows(client, world, preview["id"])
        same(organisation(db, ca), before, recreated=(LEAVING,))
