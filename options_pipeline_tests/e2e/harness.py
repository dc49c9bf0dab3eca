"""End-to-end harness: real processes on 127.0.0.1, bounded in time, always shut down.

- `DagsterDev`: `dagster dev` (webserver + daemon + code server) in its own process group; stopped
  with SIGINT to the group, then SIGKILL if it is still there.
- `run_bounded` / `start_bounded`: subprocesses in their own process group with a hard timeout,
  so neither a hang nor a grandchild outlives a test.
- `GraphQL`: the webserver's /graphql (what the UI sends), posted with requests.
- SQL checks shared by the tests: duplicates, half-written symbols, per-(day, symbol) counts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from options_pipeline.db.connection import with_database
from options_pipeline.instance import dagster_storage_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "artifacts" / "e2e"
FAKE_API_KEY = "SECRETKEY-e2e-123"
CONTRACTS = 200  # SAMPLE_CONTRACTS_PER_SYMBOL in every e2e environment

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figure(name: str, value: object) -> None:
    """A measured figure: printed (pytest -s) and appended to artifacts/e2e/figures.txt."""
    line = f"[e2e] {name}: {value}"
    print(line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "figures.txt").open("a") as out:
        out.write(line + "\n")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 1.0,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


# --- databases ---------------------------------------------------------------------------------


def run_partitions(tags: dict[str, str]) -> set[str]:
    """The partitions a run targets: its `dagster/partition`, or every session of its range (a
    run of a BackfillPolicy range carries the range's first and last key instead)."""
    from options_pipeline.partitions import partition_days

    if "dagster/partition" in tags:
        return {tags["dagster/partition"]}
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start is None or end is None:
        return set()
    days = partition_days(date.fromisoformat(start), date.fromisoformat(end))
    return {d.isoformat() for d in days}


def create_database(server_url: str, *, template: str | None = None) -> str:
    """A new database on the server (optionally cloned from `template`); returns its DSN."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(query)
    return with_database(server_url, name)


def drop_database(url: str) -> None:
    params = conninfo_to_dict(url)
    name = params["dbname"]
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def sqlalchemy_url(url: str) -> str:
    """The `postgresql+psycopg2://` URL dagster-postgres needs for the same database."""
    return dagster_storage_url(url, conninfo_to_dict(url)["dbname"])


# --- environments ------------------------------------------------------------------------------


def pipeline_environment(
    *, state: Path, database_url: str, dagster_pg_url: str | None, **extra: str
) -> dict[str, str]:
    """The environment of a user running the project's commands (and of `dagster dev`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POLYGON_", "OPTIONS_PIPELINE_", "DAGSTER_"))
        and k not in ("DATABASE_URL", "SAMPLE_CONTRACTS_PER_SYMBOL", "PYTEST_CURRENT_TEST")
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "OPTIONS_PIPELINE_HOME": str(state),
            "DAGSTER_HOME": str(state / "dagster_home"),
            "OPTIONS_PIPELINE_PROVIDER": "sample",
            "SAMPLE_CONTRACTS_PER_SYMBOL": str(CONTRACTS),
        }
    )
    if dagster_pg_url:
        env["DAGSTER_PG_URL"] = dagster_pg_url
    env.update(extra)
    return env


def polygon_environment(env: dict[str, str], base_url: str) -> dict[str, str]:
    return env | {
        "POLYGON_API_KEY": FAKE_API_KEY,
        "POLYGON_BASE_URL": base_url,
        "POLYGON_RATE_LIMIT_PER_MINUTE": "60000",
    }


# --- subprocesses ------------------------------------------------------------------------------


@dataclass
class Finished:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-6000:]}"
        )


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class Bounded:
    """A subprocess in its own session/process group; `finish()` waits at most `timeout` s.

    Every instance is registered in `LIVE`; the e2e conftest kills whatever a test left running
    (unless `detached`, i.e. owned by a module fixture that cleans it up itself)."""

    LIVE: list[Bounded] = []

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], timeout: float) -> None:
        self.argv = [str(a) for a in argv]
        self.timeout = timeout
        self.detached = False
        self.started = time.monotonic()
        Bounded.LIVE.append(self)
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def finish(self) -> Finished:
        try:
            out, err = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            out, err = self.proc.communicate()
            raise AssertionError(
                f"{' '.join(self.argv)} did not finish within {self.timeout:.0f}s (killed)\n"
                f"--- stdout\n{out[-3000:]}\n--- stderr\n{err[-5000:]}"
            ) from None
        finally:
            _kill_group(self.proc)  # nothing it started outlives it
        return Finished(self.argv, self.proc.returncode, out, err, time.monotonic() - self.started)

    def abandon(self) -> None:
        """Teardown: make sure nothing of it is left running (no-op once finished)."""
        if self.proc.poll() is None:
            _kill_group(self.proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.communicate(timeout=30)

    def kill(self) -> Finished:
        """SIGKILL the process group (the fault a crash or OOM kill is)."""
        _kill_group(self.proc)
        out, err = self.proc.communicate(timeout=30)
        return Finished(self.argv, self.proc.returncode, out, err, time.monotonic() - self.started)


def start_bounded(argv: Sequence[str], *, env: dict[str, str], timeout: float = 300) -> Bounded:
    return Bounded(argv, env=env, timeout=timeout)


def run_bounded(argv: Sequence[str], *, env: dict[str, str], timeout: float = 300) -> Finished:
    return Bounded(argv, env=env, timeout=timeout).finish()


def ingest_options(env: dict[str, str], *args: str, timeout: float = 300) -> Finished:
    """The documented command: `python -m scripts.ingest_options ...`."""
    return run_bounded(
        [sys.executable, "-m", "scripts.ingest_options", *args], env=env, timeout=timeout
    )


def start_ingest_options(env: dict[str, str], *args: str, timeout: float = 300) -> Bounded:
    return start_bounded(
        [sys.executable, "-m", "scripts.ingest_options", *args], env=env, timeout=timeout
    )


def options_pipeline(env: dict[str, str], *args: str) -> Finished:
    return run_bounded([BIN / "options-pipeline", *args], env=env, timeout=120)


# --- dagster dev -------------------------------------------------------------------------------


class GraphQL:
    def __init__(self, url: str) -> None:
        self.url = url

    def raw(self, query: str, **variables: Any) -> requests.Response:
        return requests.post(self.url, json={"query": query, "variables": variables}, timeout=60)

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        resp = self.raw(query, **variables)
        resp.raise_for_status()
        body = resp.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]


class DagsterDev:
    """`dagster dev -w workspace.yaml -h 127.0.0.1 -p PORT` as the user starts it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"
        self.graphql = GraphQL(f"{self.base}/graphql")
        self.stop_seconds: float | None = None

    def start(self) -> DagsterDev:
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                [
                    BIN / "dagster",
                    "dev",
                    "-w",
                    "workspace.yaml",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no dagster dev log)"
        return f"--- dagster dev log (tail)\n{text[-chars:]}"

    def wait_ready(self, timeout: float = 120) -> float:
        """Until /server_info answers and the code location is loaded; returns the seconds."""
        started = time.monotonic()

        def alive_and(check: Callable[[], bool]) -> Callable[[], bool]:
            def probe() -> bool:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"dagster dev exited with {self.proc.returncode}\n{self.log_tail()}"
                    )
                try:
                    return check()
                except requests.RequestException:
                    return False

            return probe

        wait_for(
            "the webserver",
            alive_and(lambda: requests.get(f"{self.base}/server_info", timeout=5).ok),
            timeout=timeout,
            interval=0.5,
            diagnostics=self.log_tail,
        )
        wait_for(
            "the code location to load",
            alive_and(self._location_loaded),
            timeout=timeout,
            interval=0.5,
            diagnostics=self.log_tail,
        )
        return time.monotonic() - started

    def _location_loaded(self) -> bool:
        data = self.graphql("""{ workspaceOrError { __typename ... on Workspace {
            locationEntries { name locationOrLoadError { __typename
              ... on PythonError { message } } } } } }""")
        entries = data["workspaceOrError"].get("locationEntries") or []
        kinds = {e["name"]: e["locationOrLoadError"] for e in entries}
        loc = kinds.get("options_pipeline")
        if loc and loc["__typename"] == "PythonError":
            raise AssertionError(f"code location failed to load: {loc['message']}")
        return bool(loc) and loc["__typename"] == "RepositoryLocation"

    def stop(self, timeout: float = 45) -> None:
        """SIGINT to the whole group (what Ctrl-C does), then SIGKILL whatever is left."""
        if self.proc is None:
            return
        started = time.monotonic()
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:  # children finishing up
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.stop_seconds = time.monotonic() - started


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], log_path: Path) -> Iterator[DagsterDev]:
    dev = DagsterDev(env, log_path)
    try:
        dev.start()
        yield dev
    finally:
        dev.stop()


# --- SQL checks --------------------------------------------------------------------------------


def per_day_symbol(conn: psycopg.Connection) -> dict[tuple[date, str], int]:
    """options_chains rows per (day, symbol)."""
    rows = conn.execute("""
        SELECT (c.time AT TIME ZONE 'UTC')::date, t.symbol, count(*)
        FROM options_chains c JOIN tickers t ON t.id = c.ticker_id GROUP BY 1, 2""").fetchall()
    return {(d, s): n for d, s, n in rows}


def ledger(conn: psycopg.Connection) -> dict[tuple[date, str], tuple]:
    """The completion ledger per (day, symbol): (contract_count, rows_written, completed_at)."""
    rows = conn.execute("""
        SELECT s.as_of, t.symbol, s.contract_count, s.rows_written, s.completed_at
        FROM option_chain_snapshots s JOIN tickers t ON t.id = s.ticker_id""").fetchall()
    return {(d, sym): (cc, rw, at) for d, sym, cc, rw, at in rows}


def duplicates(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("""
        SELECT time, ticker_id, expiration_date, strike_price, option_type, count(*)
        FROM options_chains GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1 LIMIT 10""").fetchall()


def half_written(conn: psycopg.Connection) -> list[tuple]:
    """(day, symbol) with chain rows but no ledger row, a ledger row but no rows, or a ledger
    whose contract count disagrees with the rows stored: all must be empty, always."""
    return conn.execute("""
        SELECT coalesce(s.as_of, (c.time AT TIME ZONE 'UTC')::date), t.symbol, c.n,
               s.contract_count
        FROM (SELECT time, ticker_id, count(*) AS n FROM options_chains GROUP BY 1, 2) c
        FULL JOIN option_chain_snapshots s ON s.time = c.time AND s.ticker_id = c.ticker_id
        JOIN tickers t ON t.id = coalesce(s.ticker_id, c.ticker_id)
        WHERE c.ticker_id IS NULL OR s.ticker_id IS NULL OR c.n <> s.contract_count
        ORDER BY 1, 2""").fetchall()


def assert_consistent(conn: psycopg.Connection) -> None:
    assert duplicates(conn) == [], "duplicate options_chains rows"
    assert half_written(conn) == [], "half-written (day, symbol): rows and ledger disagree"


# --- Dagster records ---------------------------------------------------------------------------


@contextlib.contextmanager
def dagster_instance(env: dict[str, str]):
    """The Dagster instance the commands in `env` use, opened in-process to read its records."""
    from dagster import DagsterInstance

    # dagster.yaml reads the storage URL from DAGSTER_PG_URL, as the commands derive it
    url = (
        env.get("DAGSTER_PG_URL")
        or options_pipeline(env, "db", "dagster-url", "--show-password").stdout.strip()
    )
    saved = os.environ.get("DAGSTER_PG_URL")
    os.environ["DAGSTER_PG_URL"] = url
    try:
        instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_PG_URL", None)
        else:
            os.environ["DAGSTER_PG_URL"] = saved
    try:
        yield instance
    finally:
        instance.dispose()


def orphaned_runs(instance) -> list:
    """Runs still STARTING/STARTED (call it only when no process of ours is running)."""
    from dagster import DagsterRunStatus, RunsFilter

    return list(
        instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
        )
    )


def recover_orphaned_runs(instance, why: str) -> list[str]:
    """What an operator does for a run whose process is gone (UI: Terminate, then "free
    concurrency slots"): mark it failed and release its options_chains pool slot."""
    recovered = []
    for run in orphaned_runs(instance):
        instance.report_run_failed(run, message=f"run process is gone: {why}")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def initialize_pool(env: dict[str, str], pool: str = "options_chains") -> None:
    """Create the pool's limit row in a fresh instance, from one process: left to Dagster, two
    runs using the pool for the first time at the same moment race on that INSERT on PostgreSQL
    and one run fails (UniqueViolation, exit 3; dagster-io/dagster#33552)."""
    with dagster_instance(env) as instance:
        if not any(p.name == pool for p in instance.event_log_storage.get_pool_limits()):
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)


def pool_claims(instance, pool: str = "options_chains") -> list[str]:
    info = instance.event_log_storage.get_concurrency_info(pool)
    return [slot.run_id for slot in info.claimed_slots]


def step_windows(instance, step_key: str = "options_chains") -> list[tuple[float, float, str]]:
    """(start, end, run_id) of every execution of `step_key` in the instance, from its event log
    (STEP_START .. STEP_SUCCESS/STEP_FAILURE); a step with no end event ends at +inf."""
    from dagster import DagsterEventType

    kinds = {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
    }
    windows = []
    for record in instance.get_run_records():
        run_id = record.dagster_run.run_id
        start = end = None
        for event in instance.all_logs(run_id, of_type=kinds):
            if event.step_key != step_key:
                continue
            if event.dagster_event_type == DagsterEventType.STEP_START:
                start = event.timestamp
            else:
                end = event.timestamp
        if start is not None:
            windows.append((start, end if end is not None else float("inf"), run_id))
    return sorted(windows)


def overlapping(windows: list[tuple[float, float, str]]) -> list[tuple]:
    """Pairs (earlier, later) of windows where the later starts before the earlier ended."""
    found, latest = [], None
    for w in sorted(windows):
        if latest is not None and w[0] < latest[1]:
            found.append((latest, w))
        if latest is None or w[1] > latest[1]:
            latest = w
    return found


def fmt_windows(windows: list[tuple[float, float, str]]) -> str:
    t0 = windows[0][0] if windows else 0.0
    return ", ".join(f"{w[2][:8]} {w[0] - t0:.2f}..{w[1] - t0:.2f}s" for w in windows)
