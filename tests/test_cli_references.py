"""The CLI decodes public ids itself (the domain sees raw ids only) and still names a reference in its
messages exactly as the operator typed it. Self-contained: a temporary SQLite file."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rtmhub import ids
from rtmhub.cli.main import app
from rtmhub.settings import get_settings

runner = CliRunner()
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    assert runner.invoke(app, ["init"]).exit_code == 0
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("value", [ids.encode("CUSTOMER", UNKNOWN), ids.encode("ORGANIZATION", UNKNOWN), UNKNOWN,
                                   "not-an-id"])
def test_unknown_references_are_named_as_typed(empty_db, value):
    result = runner.invoke(app, ["admin", "create", "--email", "c@example.org", "--role", "customer_full_admin",
                                 "--customer", value, "--password", "pw"])
    assert result.exit_code == 1 and result.stderr == f"Error: Customer '{value}' not found.\n"
    result = runner.invoke(app, ["admin", "create", "--email", "p@example.org", "--role", "partner_full_admin",
                                 "--partner", value, "--password", "pw"])
    assert result.exit_code == 1 and result.stderr == f"Error: No partner named or with id '{value}'.\n"
    result = runner.invoke(app, ["users", "list", "--customer", value])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Customer '{value}' not found; use an id or orgId shown by")
