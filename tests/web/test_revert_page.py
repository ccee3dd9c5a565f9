"""Issue 9 item 6 on the pages: "Revert this import" on an import's page queues a dry run of the revert (a
preview, nothing changed), whose page applies it like a CSV preview; the import and its revert link each
other on their pages and in the task lists. Read-only admins see no button and are refused; foreign admins
get 404. Both databases."""
from __future__ import annotations

import re

from sqlalchemy import select

from rtmhub import ids
from rtmhub.domain.users.models import User
from tests.bulk_support import csv_bytes, person, run, wait
from tests.web.test_pages import csrf_of, sign_in


NEW = "sivu.uusi@asiakas.example"


def raw(public_id: str) -> str:
    return ids.decode("TASK", public_id)


def exists(db, email: str) -> bool:
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(User.id).where(User.email_key == email)) is not None


def test_revert_button_previews_then_applies_and_links_both_tasks(client, world, db):
    imported, _ = run(client, world, csv_bytes([person(NEW, "Webex Meetings")]), preview=False)
    assert exists(db, NEW)
    assert sign_in(client, "full@a.example").status_code == 303
    page = client.get(f"/tasks/{raw(imported['id'])}")
    assert page.status_code == 200 and "Revert this import" in page.text, page.text
    r = client.post(f"/tasks/{raw(imported['id'])}/revert", data={"csrf_token": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    preview_raw = r.headers["location"].rsplit("/", 1)[1]
    preview = wait(client, world, ids.encode("TASK", preview_raw))
    assert preview["type"] == "revert_preview" and preview["counts"]["deleted"] == 1, preview
    assert exists(db, NEW)  # the preview changed nothing
    page = client.get(f"/tasks/{preview_raw}")
    assert "This is a preview: nothing has been changed yet." in page.text
    assert "Revert preview (dry run)" in page.text and 'id="apply"' in page.text
    assert f'href="/tasks/{raw(imported["id"])}"' in page.text  # "Reverts task …"

    r = client.post(f"/tasks/{preview_raw}/apply", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    revert_raw = r.headers["location"].rsplit("/", 1)[1]
    done = wait(client, world, ids.encode("TASK", revert_raw))
    assert done["type"] == "revert" and done["status"] == "completed", done
    assert not exists(db, NEW)

    page = client.get(f"/tasks/{raw(imported['id'])}")
    assert "Reverted by task" in page.text and f'href="/tasks/{revert_raw}"' in page.text
    listing = client.get(f"/customers/{world.raw['ca']}/hub/tasks").text
    assert f'href="/tasks/{revert_raw}"' in listing and "Reverted by task" in listing and "Reverts task" in listing
    assert "Reverted by task" in client.get("/tasks").text
    # the revert's own page offers to undo it
    assert "Undo this revert" in client.get(f"/tasks/{revert_raw}").text
    # in Finnish
    client.cookies.set("rtmhub_lang", "fi")
    page = client.get(f"/tasks/{raw(imported['id'])}").text
    assert "Kumottu tehtävällä" in page and "Kumoa tämä tuonti" in page


def test_force_checkbox_and_refusals(client, world, db):
    imported, _ = run(client, world, csv_bytes([person(NEW, "Webex Meetings")]), preview=False)
    sign_in(client, "full@a.example")
    page = client.get(f"/tasks/{raw(imported['id'])}")
    r = client.post(f"/tasks/{raw(imported['id'])}/revert", data={"csrf_token": csrf_of(page.text), "force": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    preview = wait(client, world, ids.encode("TASK", r.headers["location"].rsplit("/", 1)[1]))
    assert preview["mode"] == "revert-force"
    # a preview cannot be reverted: the page says why (409), and offers no button
    preview_page = client.get(r.headers["location"])
    assert "Revert this import" not in preview_page.text
    r = client.post(r.headers["location"] + "/revert", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 409 and "nothing to revert" in r.text, r.text
    # without the CSRF token: refused
    assert client.post(f"/tasks/{raw(imported['id'])}/revert").status_code == 403
    client.post("/signout", data={"csrf_token": csrf_of(page.text)})

    # a read-only admin sees no button and is refused
    sign_in(client, "ro@a.example")
    page = client.get(f"/tasks/{raw(imported['id'])}")
    assert page.status_code == 200 and "Revert this import" not in page.text
    assert re.search(r'name="csrf_token"', page.text)
    r = client.post(f"/tasks/{raw(imported['id'])}/revert", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 403, r.text
    client.post("/signout", data={"csrf_token": csrf_of(page.text)})

    # another partner's admin: the task does not exist for them
    sign_in(client, "full@b.example")
    page = client.get("/tasks")
    r = client.post(f"/tasks/{raw(imported['id'])}/revert", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 404, r.text
    assert exists(db, NEW)
