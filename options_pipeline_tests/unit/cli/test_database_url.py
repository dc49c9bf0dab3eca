"""A malformed DATABASE_URL is one line on stderr and exit 2, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline

SECRET = "s3cr3t-pw"
BAD_URLS = [
    f"mysql://user:{SECRET}@host/db",
    "localhost:5432/db",
    "garbage",
    f"postgresql+psycopg2://user:{SECRET}@host:5432/db",
    f"postgresql://user:{SECRET}@host/db?bogus_option=1",
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", ["ingest", "db-init"])
def test_malformed_database_url(
    url: str,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OPTIONS_PIPELINE_HOME", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    if command == "ingest":
        result = ingest_options(capsys, "--as-of", "2025-12-15")
    else:
        result = options_pipeline(capsys, "db", "init")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], result.err
    assert SECRET not in result.err + result.out
    assert not state.exists()  # nothing written: no state directory, no instance file
