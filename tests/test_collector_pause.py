"""Decision 60: Python's cycle collector waits while a task's batch runs and comes back after it, also when
the batch fails, when batches of two threads overlap, and never when it was off before."""
from __future__ import annotations

import gc
import threading

import pytest
from fastapi.testclient import TestClient
from tests.bulk_support import csv_bytes, person, upload

from rtmhub.app import create_app
from rtmhub.jobs import runner
from rtmhub.jobs.task_steps import CollectorPause
from rtmhub.settings import Settings


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_waits_for_a_batch_and_comes_back_after_it():
    pause = CollectorPause()
    with pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), pause.paused():
        assert not gc.isenabled()
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_overlapping_batches_of_two_threads_bring_it_back_once_the_last_ends():
    pause = CollectorPause()
    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with pause.paused():
            inside.set()
            assert leave.wait(30)

    thread = threading.Thread(target=other_batch)
    with pause.paused():
        thread.start()
        assert inside.wait(30)
    assert not gc.isenabled()  # the other thread's batch still runs
    leave.set()
    thread.join(30)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    pause = CollectorPause()
    gc.disable()
    with pause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_an_import_and_its_preview_run_their_batches_without_the_collector(world, db, monkeypatch):
    app = create_app(Settings(database_url=db.url, inprocess_worker=False), database=db)
    seen: list[bool] = []
    real = runner.apply_batch

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "apply_batch", watched)
    content = csv_bytes([person(f"keraaja{i}@asiakas.example", "Webex Meetings") for i in range(5)])
    with TestClient(app, base_url="http://testserver") as client:
        for preview in (True, False):
            r = upload(client, world, content, mode="add", preview=preview)
            assert r.status_code == 202, r.text
            while runner.run_pending(db, "test-worker", batch_rows=2, preview_batch_rows=2):
                pass
    assert seen == [False] * 6  # three batches each
    assert gc.isenabled()
