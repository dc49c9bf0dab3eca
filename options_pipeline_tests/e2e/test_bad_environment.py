"""Bad environments: one line on stderr, exit 2, no secret, no traceback, no retry chatter.

The commands run as subprocesses (an import-time failure is only visible there) against the test
session's PostgreSQL; a password is put in every DSN so that any leak of it is caught.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from options_pipeline.db import store
from options_pipeline.db.connection import connection

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "s3cr3t-PW-9431"


def with_password(url: str) -> str:
    """The same DSN with a password (the session server trusts local sockets and ignores it)."""
    return make_conninfo(**(conninfo_to_dict(url) | {"password": SECRET}))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens once it is closed


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def base_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POLYGON_", "OPTIONS_PIPELINE_", "DAGSTER_"))
        and k not in ("DATABASE_URL", "PYTEST_CURRENT_TEST")
    }
    env |= {
        "DATABASE_URL": with_password(database_url),
        "OPTIONS_PIPELINE_HOME": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "state" / "dagster_home"),
        "PYTHONPATH": str(ROOT),
        "SAMPLE_CONTRACTS_PER_SYMBOL": "50",
    }
    return env


def _read_only(database_url: str) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(name)
            )
        )


def _file_as_home(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env["DAGSTER_HOME"] = str(blocker / "dagster_home")


CASES = {
    "start date garbage": (
        {"OPTIONS_PIPELINE_START_DATE": "garbage"},
        "OPTIONS_PIPELINE_START_DATE='garbage' is not a date",
    ),
    "DAGSTER_PG_URL garbage": ({"DAGSTER_PG_URL": "garbage"}, "DAGSTER_PG_URL is not a PostgreSQL"),
    "DAGSTER_PG_URL mysql": (
        {"DAGSTER_PG_URL": f"mysql://root:{SECRET}@127.0.0.1/dagster"},
        "DAGSTER_PG_URL is not a PostgreSQL",
    ),
    "DAGSTER_PG_URL unreachable": (
        {"DAGSTER_PG_URL": f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:{closed_port()}/dagster"},
        "Dagster instance's database is unreachable",
    ),
    "DAGSTER_HOME under a file": ("file-as-home", "is not a usable directory"),
    "read-only database": ("read-only", "is read-only"),
}
COMMANDS = {
    "db url": ["options-pipeline", "db", "url"],
    "ingest": ["ingest_options", "--as-of", "2025-12-16", "--provider", "sample"],
}


# `db url` never opens the Dagster instance: an unreachable DAGSTER_PG_URL is not its concern
MATRIX = [
    (case, command)
    for case in sorted(CASES)
    for command in sorted(COMMANDS)
    if (case, command) != ("DAGSTER_PG_URL unreachable", "db url")
]


@pytest.mark.parametrize(("case", "command"), MATRIX)
def test_a_bad_environment_is_one_line_and_exit_2(
    base_env: dict[str, str], database_url: str, tmp_path: Path, case: str, command: str
):
    setting, expected = CASES[case]
    env = dict(base_env)
    with connection(database_url) as conn:
        store.add_to_watchlist(conn, "w", ["SPY"])
    if setting == "read-only":
        _read_only(database_url)
    elif setting == "file-as-home":
        _file_as_home(env, tmp_path)
    else:
        env |= setting
    argv = COMMANDS[command]
    if argv[0] == "ingest_options":
        argv = [sys.executable, "-m", "scripts.ingest_options", *argv[1:]]
    else:
        argv = [str(BIN / argv[0]), *argv[1:]]
    done = run(argv, env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and expected in errors[0], output
    assert "Traceback" not in output and SECRET not in output, output
    assert len(done.stderr.strip().splitlines()) <= 3, output  # no wall of retry warnings
