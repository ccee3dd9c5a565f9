"""Settings from RTMHUB_* variables; the built-in secret is refused outside development."""
import pytest
from pydantic import ValidationError

from rtmhub.settings import DEVELOPMENT_SECRET, Settings


def test_default_secret_is_refused_outside_development(monkeypatch):
    monkeypatch.setenv("RTMHUB_ENV", "production")
    monkeypatch.delenv("RTMHUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="RTMHUB_SECRET_KEY"):
        Settings(_env_file=None)
    monkeypatch.setenv("RTMHUB_SECRET_KEY", "x" * 48)
    assert Settings(_env_file=None).secret_key == "x" * 48


def test_development_runs_with_the_built_in_secret_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("RTMHUB_ENV", raising=False)
    monkeypatch.delenv("RTMHUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("RTMHUB_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("RTMHUB_CSV_MAX_ROWS", "5000")
    settings = Settings(_env_file=None)
    assert settings.secret_key == DEVELOPMENT_SECRET
    assert settings.database_url == "sqlite:///elsewhere.db" and settings.csv_max_rows == 5000
