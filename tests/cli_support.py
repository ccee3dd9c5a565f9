"""The CLI run in-process against a SQLite file: the demo loaded once per module, a copy for each test."""
from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from rtmhub.cli.main import app
from rtmhub.settings import get_settings

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RTMHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """The demo is loaded once per module; each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RTMHUB_DATABASE_URL", f"sqlite:///{path}")
        get_settings.cache_clear()
        result = run("demo")
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def demo_db_url(db_url, demo_template, tmp_path):
    """RTMHUB_DATABASE_URL names a fresh copy of the demo database."""
    for suffix in ("", "-wal", "-shm"):
        source = demo_template.with_name(demo_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, tmp_path / f"cli.db{suffix}")
    return db_url
