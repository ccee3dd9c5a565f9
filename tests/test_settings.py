"""Settings from RTMHUB_* variables; the built-in secret is refused outside development."""
import pytest
from pydantic import ValidationError

from rtmhub.settings import DEVELOPMENT_SECRET, MIN_SECRET_LENGTH, Settings


def test_default_secret_is_refused_outside_development(monkeypatch):
    monkeypatch.setenv("RTMHUB_ENV", "production")
    monkeypatch.delenv("RTMHUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="RTMHUB_SECRET_KEY"):
        Settings(_env_file=None)
    monkeypatch.setenv("RTMHUB_PUBLIC_URL", "https://hub.example.com")
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


@pytest.fixture
def production(monkeypatch):
    for name in ("RTMHUB_SECRET_KEY", "RTMHUB_PUBLIC_URL", "RTMHUB_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RTMHUB_ENV", "production")
    monkeypatch.setenv("RTMHUB_SECRET_KEY", "s" * MIN_SECRET_LENGTH)
    monkeypatch.setenv("RTMHUB_PUBLIC_URL", "https://hub.example.com")
    return monkeypatch


def test_production_refuses_a_short_secret_and_names_the_variable(production):
    assert Settings(_env_file=None).secret_key == "s" * 32
    production.setenv("RTMHUB_SECRET_KEY", "a")
    with pytest.raises(ValidationError, match="RTMHUB_SECRET_KEY must be at least 32 characters"):
        Settings(_env_file=None)
    production.setenv("RTMHUB_SECRET_KEY", "s" * 31)
    with pytest.raises(ValidationError, match="RTMHUB_SECRET_KEY"):
        Settings(_env_file=None)


def test_production_refuses_to_start_without_a_public_url(production):
    production.delenv("RTMHUB_PUBLIC_URL")
    with pytest.raises(ValidationError, match="RTMHUB_PUBLIC_URL must be set"):
        Settings(_env_file=None)
    for bad in ("hub.example.com", "ftp://hub.example.com", "https://", "https://hub.example.com/?x=1"):
        production.setenv("RTMHUB_PUBLIC_URL", bad)
        with pytest.raises(ValidationError, match="RTMHUB_PUBLIC_URL must be an absolute"):
            Settings(_env_file=None)


def test_the_app_refuses_to_start_with_production_settings_that_fail(production):
    from rtmhub.app import create_app
    from rtmhub.settings import get_settings

    production.setenv("RTMHUB_SECRET_KEY", "a")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match="RTMHUB_SECRET_KEY"):
            create_app()
    finally:
        get_settings.cache_clear()


def test_development_keeps_the_request_url_fallback(monkeypatch):
    for name in ("RTMHUB_ENV", "RTMHUB_SECRET_KEY", "RTMHUB_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RTMHUB_SECRET_KEY", "short")
    settings = Settings(_env_file=None)
    assert settings.public_url == "" and settings.secret_key == "short"


def test_session_and_proxy_settings(production):
    settings = Settings(_env_file=None)
    assert (settings.session_idle_minutes, settings.session_max_hours, settings.trusted_networks) == (60, 12, ())
    production.setenv("RTMHUB_SESSION_IDLE_MINUTES", "15")
    production.setenv("RTMHUB_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,::1")
    settings = Settings(_env_file=None)
    assert settings.session_idle_minutes == 15
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]
    production.setenv("RTMHUB_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    with pytest.raises(ValidationError, match="RTMHUB_TRUSTED_PROXIES: 'proxy.internal'"):
        Settings(_env_file=None)
    production.delenv("RTMHUB_TRUSTED_PROXIES")
    production.setenv("RTMHUB_SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ValidationError, match="session_idle_minutes"):
        Settings(_env_file=None)


def test_every_cli_command_names_a_wrong_setting_instead_of_failing_halfway(monkeypatch):
    """A wrong RTMHUB_ value stops any command before it does anything, one line per setting, exit 2, no traceback;
    a command's --help is still shown."""
    from tests.cli_support import run

    from rtmhub.settings import get_settings

    monkeypatch.setenv("RTMHUB_TASK_BATCH_ROWS", "0")
    monkeypatch.setenv("RTMHUB_TASK_LEASE_SECONDS", "a minute")
    get_settings.cache_clear()
    try:
        for command in (["worker", "--once"], ["customers", "list"]):
            result = run(*command)
            assert result.exit_code == 2, result.output
            assert "RTMHUB_TASK_BATCH_ROWS='0': Input should be greater than or equal to 1" in result.output
            assert "RTMHUB_TASK_LEASE_SECONDS='a minute'" in result.output
            assert "Traceback" not in result.output
        help_text = run("serve", "--help")  # reads no setting: shown whatever they are
        assert help_text.exit_code == 0 and "Usage" in help_text.output and "cannot be used" not in help_text.output
        monkeypatch.setenv("RTMHUB_TASK_BATCH_ROWS", "1")
        monkeypatch.setenv("RTMHUB_TASK_LEASE_SECONDS", "60")
        monkeypatch.setenv("RTMHUB_ENV", "production")
        monkeypatch.delenv("RTMHUB_SECRET_KEY", raising=False)
        get_settings.cache_clear()
        result = run("customers", "list")
        assert result.exit_code == 2 and "RTMHUB_SECRET_KEY must be set" in result.output, result.output
    finally:
        get_settings.cache_clear()


def test_a_commands_own_validation_error_is_not_called_a_setting():
    """Only the settings' own refusal is reported as settings: another model's ValidationError goes on as it was."""
    import typer
    from pydantic import BaseModel, ValidationError
    from typer.testing import CliRunner

    from rtmhub.cli.main import _SettingsNamedGroup

    class Body(BaseModel):
        count: int

    app = typer.Typer(cls=_SettingsNamedGroup)

    @app.command()
    def load() -> None:
        Body.model_validate({"count": "many"})

    @app.command()
    def other() -> None:  # a second command, so that "load" is a subcommand of the group
        pass

    result = CliRunner().invoke(app, ["load"])
    assert isinstance(result.exception, ValidationError) and "cannot be used" not in result.output
