import pytest

from options_pipeline.db.connection import resolve_database_url
from options_pipeline_tests.cli_helpers import options_pipeline
from options_pipeline_tests.pg_process import PostgresProcess


@pytest.fixture
def external_server(tmp_path, pg_state_dir):
    server = PostgresProcess(tmp_path).init()
    server.start()
    yield server
    server.stop()


def test_database_url_points_at_an_externally_started_server(
    external_server, monkeypatch, tmp_path, capsys
):
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", external_server.url)
    monkeypatch.setenv("OPTIONS_PIPELINE_HOME", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    assert resolve_database_url(state) == external_server.url
    assert options_pipeline(capsys, "db", "init").code == 0
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    listed = options_pipeline(capsys, "watchlist", "list")
    assert "core\tSPY\tactive" in listed.out
    assert not (state / "pgdata").exists()  # the embedded server was never started
    # Dagster's storage follows DATABASE_URL through the environment, not the file
    assert "127.0.0.1" not in (state / "dagster_home" / "dagster.yaml").read_text()
    shown = options_pipeline(capsys, "db", "dagster-url")
    assert "127.0.0.1" in shown.out and "/dagster" in shown.out
