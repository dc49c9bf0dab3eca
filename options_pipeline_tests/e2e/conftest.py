"""Fixtures of the end-to-end suite (real subprocesses; see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from options_pipeline_tests.e2e.harness import (
    ARTIFACTS,
    CONTRACTS,
    FAKE_API_KEY,
    Bounded,
    create_database,
    drop_database,
    pipeline_environment,
    sqlalchemy_url,
)
from options_pipeline_tests.polygon_server import PolygonTestServer

_FIGURES = ARTIFACTS / "figures.txt"
_session = {"figures": False}


@pytest.fixture(scope="session", autouse=True)
def _figures_file() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _FIGURES.write_text(f"# e2e figures, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    _session["figures"] = True


def pytest_terminal_summary(terminalreporter) -> None:
    """The measured figures (harness.figure) in the report, when e2e tests ran."""
    if _session["figures"] and _FIGURES.exists():
        terminalreporter.write_sep("-", "e2e figures (artifacts/e2e/figures.txt)")
        for line in _FIGURES.read_text().splitlines()[1:]:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _reap_subprocesses() -> Iterator[None]:
    """Whatever a test started and did not wait for (it failed half-way) is killed after it."""
    before = len(Bounded.LIVE)
    yield
    for proc in Bounded.LIVE[before:]:
        if not proc.detached:
            proc.abandon()


@pytest.fixture
def e2e_env(tmp_path: Path, server_url: str, database_url: str) -> Iterator[dict[str, str]]:
    """A user's environment on this test's fresh database, with Dagster's storage in a database
    of its own (DAGSTER_PG_URL), so runs and pool slots never leak between tests."""
    dagster_db = create_database(server_url)
    try:
        yield pipeline_environment(
            state=tmp_path / "state",
            database_url=database_url,
            dagster_pg_url=sqlalchemy_url(dagster_db),
        )
    finally:
        drop_database(dagster_db)


@pytest.fixture
def polygon() -> Iterator[PolygonTestServer]:
    """The local Polygon server; every 2025 date is history for it (today = the real date)."""
    with PolygonTestServer(
        api_key=FAKE_API_KEY,
        today=max(date.today(), date(2026, 1, 5)),
        contracts_per_symbol=CONTRACTS,
        history_limit_cap=5000,
    ) as server:  # the first page size is accepted
        yield server
