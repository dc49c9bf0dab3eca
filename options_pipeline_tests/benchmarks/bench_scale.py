"""Year-scale benchmark (`make bench-scale`, on demand; never part of `make test` or `make bench`).

One simulated year for a watchlist, through the path a user takes, in one pass:

* a private embedded PostgreSQL (the project's pgserver mechanism) in a temporary state
  directory, used as the default database (`OPTIONS_PIPELINE_HOME`, no `DATABASE_URL`), prepared
  with `options-pipeline db init` and `options-pipeline watchlist add`;
* the Dagster instance the commands configure (dagster-postgres, database `dagster` on the same
  server, `$DAGSTER_HOME/dagster.yaml` written by the commands);
* `ingest_options --provider sample` over the sessions (one Dagster run per session);
* the `dealer_metrics` backfill over the same sessions through Dagster: `dagster asset
  materialize --partition-range` when the asset has a single-run backfill policy, else
  `options-pipeline metrics compute` (one run per session, what the product offers then).

The sessions are filled in segments ending at cumulative checkpoints (1, 3, 12 months by
default); after each segment the bench records ingest wall and rows/s, the database's sizes
(`pg_relation_size`, `pg_indexes_size`, `pg_total_relation_size` of options_chains and the ledger),
the dealer backfill's wall, the Dagster database's tables (event_logs and the run storage) per
partition, and peak memory: VmHWM of each command (wait4's ru_maxrss) and of the PostgreSQL
server processes (sampled from /proc every 0.5 s: the largest VmHWM of any server process, and
the peak of their summed PSS, which counts shared buffers once).

Parameters (environment, or the same names as flags):
  BENCH_SCALE_MONTHS     months to fill (default 12; 1 for a quick run)
  BENCH_SCALE_SYMBOLS    watchlist size (default 20)
  BENCH_SCALE_CONTRACTS  sample contracts per symbol and session (default 6,000)
  BENCH_SCALE_START      first session (default 2025-01-02)
  BENCH_SCALE_DEALER_SESSIONS  N: backfill dealer_metrics only for the last N sessions of each
                         segment (default 0 = all): bounds the run when the dealer path is slow;
                         the figure is then per partition measured, scaled to the range
  BENCH_SCALE_WRITE      1: write the BENCHMARKS.md section (default: only for 12+ months)

Run: `make bench-scale` or `BENCH_SCALE_MONTHS=1 .venv/bin/python -m
options_pipeline_tests.benchmarks.bench_scale`. The temporary server and its data are removed at
the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from options_pipeline.calendar import sessions_in_range
from options_pipeline.db import embedded
from options_pipeline.db.connection import with_database
from options_pipeline_tests.benchmarks import scale_model as sm

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "BENCHMARKS.md"
SECTION_START = "<!-- scale-benchmark -->"
SECTION_END = "<!-- /scale-benchmark -->"
BIN = Path(sys.executable).parent
SYMBOLS = [
    "AAPL", "AMD", "AMZN", "BA", "C", "DIS", "GOOGL", "IWM", "JPM", "META",
    "MSFT", "NFLX", "NVDA", "QQQ", "SPY", "T", "TSLA", "UBER", "WMT", "XOM",
]  # fmt: skip
CHECKPOINT_MONTHS = (1, 3, 12)
DAGSTER_DB = "dagster"
MODULE = "options_pipeline_tests.benchmarks.bench_scale"


# ------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class Params:
    months: int
    symbols: int
    contracts: int
    start: date
    write: bool
    dealer_sessions: int = 0

    def symbol_list(self) -> list[str]:
        extra = [
            f"Z{a}{b}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXY" for b in "ABCDEFGHIJKLMNOPQRSTUVWXY"
        ]
        return (SYMBOLS + extra)[: self.symbols]


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def checkpoints(start: date, months: int) -> list[tuple[int, list[date]]]:
    """(cumulative months, the sessions of the segment ending there), one pass over the range."""
    marks = sorted({m for m in CHECKPOINT_MONTHS if m < months} | {months})
    out, lo = [], start
    for m in marks:
        hi = add_months(date(start.year, start.month, 1), m) - timedelta(days=1)
        days = sessions_in_range(lo, hi)
        if days:
            out.append((m, days))
        lo = hi + timedelta(days=1)
    return out


def parse(argv: list[str] | None = None) -> Params:
    env = os.environ
    p = argparse.ArgumentParser(prog="bench_scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--months", type=int, default=int(env.get("BENCH_SCALE_MONTHS", 12)))
    p.add_argument("--symbols", type=int, default=int(env.get("BENCH_SCALE_SYMBOLS", 20)))
    p.add_argument("--contracts", type=int, default=int(env.get("BENCH_SCALE_CONTRACTS", 6000)))
    p.add_argument(
        "--start", type=date.fromisoformat, default=env.get("BENCH_SCALE_START", "2025-01-02")
    )
    p.add_argument("--write", default=env.get("BENCH_SCALE_WRITE"), choices=["0", "1"])
    p.add_argument(
        "--dealer-sessions", type=int, default=int(env.get("BENCH_SCALE_DEALER_SESSIONS", 0))
    )
    a = p.parse_args(argv)
    start = a.start if isinstance(a.start, date) else date.fromisoformat(a.start)
    if not 1 <= a.months <= 60 or not 1 <= a.symbols <= 600 or not 10 <= a.contracts <= 200_000:
        p.error("months 1..60, symbols 1..600, contracts 10..200000")
    write = a.months >= 12 if a.write is None else a.write == "1"
    return Params(a.months, a.symbols, a.contracts, start, write, max(a.dealer_sessions, 0))


# ------------------------------------------------------------------------------ memory


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:", "PPid:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ServerMemory:
    """Samples the PostgreSQL server's processes (the postmaster and its children)."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster
        self.max_hwm_kb = 0
        self.max_pss_sum_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _pids(self) -> list[int]:
        pids = [self.postmaster]
        for entry in os.listdir("/proc"):
            if entry.isdigit() and _status(int(entry)).get("PPid") == self.postmaster:
                pids.append(int(entry))
        return pids

    def sample(self) -> None:
        pss = 0
        for pid in self._pids():
            self.max_hwm_kb = max(self.max_hwm_kb, _status(pid).get("VmHWM", 0))
            pss += _pss_kb(pid)
        self.max_pss_sum_kb = max(self.max_pss_sum_kb, pss)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def __enter__(self) -> ServerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Command:
    seconds: float
    max_rss_kb: int
    returncode: int
    stderr: str
    stdout: str


def run_command(argv: list[str], env: dict[str, str]) -> Command:
    """Run to completion; wall and the process's own peak RSS (wait4's ru_maxrss: VmHWM)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    out: list[str] = []
    out_reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    out_reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    out_reader.join(5)
    return Command(seconds, usage.ru_maxrss, proc.returncode, "".join(err), "".join(out))


# ------------------------------------------------------------------------------ sizes


def relation_sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """
            SELECT pg_relation_size('public.options_chains'),
                   pg_indexes_size('public.options_chains'),
                   pg_total_relation_size('public.options_chains'),
                   pg_total_relation_size('public.option_chain_snapshots'),
                   pg_total_relation_size('public.dealer_metrics'),
                   pg_database_size(current_database()),
                   (SELECT count(*) FROM public.options_chains)
            """
        ).fetchone()
    heap, idx, total, ledger, dealer, database, rows = row
    return {
        "chains_heap": heap,
        "chains_indexes": idx,
        # TOAST, free-space and visibility maps: the rest of the table's total
        "chains_other": total - heap - idx,
        "chains_total": total,
        "ledger_total": ledger,
        "dealer_total": dealer,
        "database": database,
        "rows": rows,
    }


def dagster_sizes(url: str) -> dict[str, Any]:
    """Each table of the Dagster database (total incl. indexes and TOAST), event counts per job."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = dict(
            conn.execute(
                """
                SELECT c.relname, pg_total_relation_size(c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND n.nspname = 'public'
                """
            ).fetchall()
        )
        jobs = conn.execute(
            """
            SELECT r.pipeline_name, count(DISTINCT r.run_id), count(e.id),
                   coalesce(sum(pg_column_size(e.event)), 0)
            FROM runs r LEFT JOIN event_logs e ON e.run_id = r.run_id
            GROUP BY r.pipeline_name
            """
        ).fetchall()
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {
        "tables": tables,
        "database": database,
        "jobs": {j: {"runs": r, "events": n, "event_bytes": b} for j, r, n, b in jobs},
    }


# ------------------------------------------------------------------------------ the run


@dataclass
class Checkpoint:
    months: int
    sessions: int  # cumulative
    segment_sessions: int
    rows: int  # cumulative
    ingest_s: float  # this segment
    ingest_rss_kb: int
    dealer_s: float
    dealer_rss_kb: int
    dealer_path: str
    db: dict[str, int]
    dagster: dict[str, Any]
    server_hwm_kb: int  # cumulative peaks
    server_pss_kb: int
    load: tuple[float, float, float]
    at: str
    dealer_sessions: int = 0  # sessions the dealer backfill covered in this segment (0: all)
    dagster_ingest: dict[str, Any] = field(default_factory=dict)  # after ingest, before dealer

    @property
    def dealer_partitions(self) -> int:
        return self.dealer_sessions or self.segment_sessions

    def segment_rows(self, previous: Checkpoint | None) -> int:
        return self.rows - (previous.rows if previous else 0)


@dataclass
class Result:
    params: dict[str, Any]
    started: str
    seconds: float = 0.0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    disk_free_before: int = 0
    # the dealer figures of a later, shorter pass (a newer dealer path): used for the projection
    dealer_supplement: dict[str, Any] | None = None


def _env(state: Path) -> dict[str, str]:
    drop = ("DAGSTER", "DATABASE_URL", "POLYGON", "MASSIVE", "OPTIONS_PIPELINE", "SAMPLE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        OPTIONS_PIPELINE_HOME=str(state),
        DAGSTER_HOME=str(state / "dagster_home"),
        OPTIONS_PIPELINE_PROVIDER="sample",
        PYTHONWARNINGS="ignore",
    )
    return env


def dealer_backfill(first: str, last: str) -> int:
    """The dealer_metrics backfill of [first, last] in this process, through the project's Dagster
    instance, chunked as the asset's BackfillPolicy says (what a UI backfill does): single_run ->
    one run with the range tags, multi_run(N) -> runs of N sessions, none -> one run per session.
    Prints how it ran (first stdout line) and exits non-zero if a run failed."""
    from dagster import AssetKey, DagsterInstance, PartitionKeyRange

    from options_pipeline.assets.dealer_metrics import dealer_metrics
    from options_pipeline.definitions import defs
    from options_pipeline.loggers import CLI_CONSOLE
    from options_pipeline.partitions import trading_days

    key = AssetKey("dealer_metrics")
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    assert job is not None
    keys = trading_days.get_partition_keys_in_range(PartitionKeyRange(first, last))
    policy = dealer_metrics.backfill_policy
    if policy is None:
        per_run, how = 1, "one run per session (no BackfillPolicy)"
    elif policy.max_partitions_per_run is None:
        per_run, how = len(keys), "one run for the range (BackfillPolicy.single_run)"
    else:
        per_run = policy.max_partitions_per_run
        how = f"one run per {per_run} sessions (BackfillPolicy.multi_run)"
    print(how, flush=True)
    instance = DagsterInstance.get()
    quiet = {"loggers": {CLI_CONSOLE: {"config": {"log_level": "WARNING"}}}}
    for lo in range(0, len(keys), per_run):
        chunk = keys[lo : lo + per_run]
        if len(chunk) == 1:
            extra: dict[str, Any] = {"partition_key": chunk[0]}
        else:
            extra = {
                "tags": {
                    "dagster/asset_partition_range_start": chunk[0],
                    "dagster/asset_partition_range_end": chunk[-1],
                }
            }
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[key],
            run_config=quiet,
            raise_on_error=False,
            **extra,
        )
        if not result.success:
            print(f"dealer_metrics {chunk[0]}..{chunk[-1]} failed", file=sys.stderr)
            return 1
    return 0


def _check(cmd: Command, what: str) -> None:
    if cmd.returncode != 0:
        tail = cmd.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{what} exited {cmd.returncode}: " + " | ".join(tail))


def _log(text: str) -> None:
    print(f"[bench-scale {datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def run(params: Params) -> Result:
    result = Result(params={**asdict(params), "start": params.start.isoformat()}, started="")
    result.started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    plan = checkpoints(params.start, params.months)
    symbols = params.symbol_list()
    state = Path(tempfile.mkdtemp(prefix="options_bench_scale_"))
    result.disk_free_before = shutil.disk_usage(state).free
    t_all = time.perf_counter()
    env = _env(state)
    env["SAMPLE_CONTRACTS_PER_SYMBOL"] = str(params.contracts)
    try:
        server = embedded.ensure_running(state)
        pid_file = state / "pgdata" / "postmaster.pid"
        postmaster = int(pid_file.read_text().splitlines()[0])
        opts = BIN / "options-pipeline"
        _check(run_command([str(opts), "db", "init"], env), "options-pipeline db init")
        _check(
            run_command([str(opts), "watchlist", "add", "scale", *symbols], env),
            "options-pipeline watchlist add",
        )
        dagster_url = with_database(server, DAGSTER_DB)
        dagster_env = dict(env)
        done_sessions = 0
        with ServerMemory(postmaster) as mem:
            for months, days in plan:
                first, last = days[0].isoformat(), days[-1].isoformat()
                _log(f"ingest {first}..{last}: {len(days)} sessions x {len(symbols)} symbols")
                ingest = run_command(
                    [
                        str(BIN / "ingest_options"),
                        "--provider",
                        "sample",
                        "--start-date",
                        first,
                        "--end-date",
                        last,
                        "--quiet",
                    ],
                    env,
                )
                _check(ingest, "ingest_options")
                _log(f"ingested in {ingest.seconds:.0f} s; dealer_metrics backfill")
                after_ingest = dagster_sizes(dagster_url)
                if "DAGSTER_PG_URL" not in dagster_env:
                    dagster_env["DAGSTER_PG_URL"] = subprocess.run(
                        [str(opts), "db", "dagster-url", "--show-password"],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.strip()
                dealer_days = days[-params.dealer_sessions :] if params.dealer_sessions else days
                argv = [
                    sys.executable,
                    "-m",
                    MODULE,
                    "--dealer-backfill",
                    dealer_days[0].isoformat(),
                    dealer_days[-1].isoformat(),
                ]
                dealer = run_command(argv, dagster_env)
                _check(dealer, "dealer_metrics backfill")
                path = "the Python API, " + (dealer.stdout.splitlines() or ["?"])[0]
                mem.sample()
                done_sessions += len(days)
                db = relation_sizes(server)
                cp = Checkpoint(
                    months=months,
                    sessions=done_sessions,
                    segment_sessions=len(days),
                    rows=db["rows"],
                    ingest_s=ingest.seconds,
                    ingest_rss_kb=ingest.max_rss_kb,
                    dealer_s=dealer.seconds,
                    dealer_rss_kb=dealer.max_rss_kb,
                    dealer_path=path,
                    dealer_sessions=len(dealer_days),
                    dagster_ingest=after_ingest,
                    db=db,
                    dagster=dagster_sizes(dagster_url),
                    server_hwm_kb=mem.max_hwm_kb,
                    server_pss_kb=mem.max_pss_sum_kb,
                    load=os.getloadavg(),
                    at=f"{datetime.now(UTC):%H:%M} UTC",
                )
                result.checkpoints.append(cp)
                prev = result.checkpoints[-2] if len(result.checkpoints) > 1 else None
                _log(
                    f"checkpoint {months} month(s): {cp.rows:,} rows, ingest "
                    f"{cp.segment_rows(prev) / ingest.seconds:,.0f} rows/s, "
                    f"dealer {dealer.seconds:.0f} s, database {sm.human_bytes(db['database'])}"
                )
                expected = done_sessions * len(symbols) * params.contracts
                if cp.rows != expected:
                    raise RuntimeError(f"stored {cp.rows:,} rows, expected {expected:,}")
    finally:
        result.seconds = time.perf_counter() - t_all
        try:
            embedded.stop(state)
        finally:
            shutil.rmtree(state, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------ report

MB = 1e6


def _mrow(n_bytes: float, rows: int) -> str:
    return f"{n_bytes / (rows / 1e6) / MB:,.1f}"


def _event_bytes(cp: Checkpoint, prev: Checkpoint | None) -> tuple[float, float]:
    """event_logs on disk (rows, indexes, TOAST) per partition added by this segment's
    options_chains runs and by its dealer_metrics runs."""
    before = prev.dagster["tables"].get("event_logs", 0) if prev else 0
    now = cp.dagster["tables"].get("event_logs", 0)
    mid = cp.dagster_ingest.get("tables", {}).get("event_logs", 0) if cp.dagster_ingest else 0
    if not mid:  # a run saved before the split was recorded: all of it per session
        return (now - before) / cp.segment_sessions, 0.0
    return (mid - before) / cp.segment_sessions, (now - mid) / cp.dealer_partitions


def _run_storage(cp: Checkpoint) -> int:
    """Everything else of the Dagster database that grows with runs."""
    t = cp.dagster["tables"]
    names = ("runs", "run_tags", "asset_keys", "asset_event_tags", "asset_check_executions")
    return sum(t.get(n, 0) for n in names)


def _job_bytes(cp: Checkpoint, job: str) -> tuple[int, int, int]:
    j = cp.dagster["jobs"].get(job, {"runs": 0, "events": 0, "event_bytes": 0})
    return j["runs"], j["events"], j["event_bytes"]


def growth(first: float, last: float, steady: str = "linear") -> str:
    """A per-unit figure at the first and the last checkpoint: `steady` if within 15 %."""
    if first <= 0:
        return "n/a"
    change = last / first - 1
    if abs(change) <= 0.15:
        return f"{steady} ({change:+.0%})"
    if steady != "linear":
        return f"{'grows' if change > 0 else 'shrinks'} ({change:+.0%})"
    return f"{'worse' if change > 0 else 'better'} than linear ({change:+.0%})"


def measured(result: Result) -> sm.Measured:
    last = result.checkpoints[-1]
    rows = last.rows
    db = last.db
    ingest_s = sum(c.ingest_s for c in result.checkpoints)
    dealer_s = sum(c.dealer_s for c in result.checkpoints)
    dealer_sessions = sum(c.dealer_partitions for c in result.checkpoints)
    cps = result.checkpoints
    per_part = [_event_bytes(c, p) for c, p in zip(cps, [None, *cps[:-1]], strict=True)]
    ch = sum(x * c.segment_sessions for (x, _), c in zip(per_part, cps, strict=True))
    de = sum(y * c.dealer_partitions for (_, y), c in zip(per_part, cps, strict=True))
    dealer_parts = sum(c.dealer_partitions for c in result.checkpoints)
    # run storage (runs, tags, asset keys, check executions) per session, both assets
    event = ch / last.sessions + (de / dealer_parts if de else 0.0)
    event += _run_storage(last) / last.sessions
    per_pair = dealer_s / (dealer_sessions * result.params["symbols"])
    if result.dealer_supplement:
        per_pair = result.dealer_supplement["s_per_symbol_session"]
    return sm.Measured(
        bytes_per_mrow=(db["chains_total"] + db["ledger_total"]) / (rows / 1e6),
        ingest_rows_per_s=rows / ingest_s,
        dealer_s_per_symbol_session=per_pair,
        event_log_bytes_per_partition=event,
        symbols=int(result.params["symbols"]),
        contracts=int(result.params["contracts"]),
    )


# Documented rates (README "Configuration"/"Historical vendors", docs/polygon-notes.md,
# docs/historical-sources.md). ThetaData has no request rate, only requests in flight per tier:
# its rate assumes plan.py's 0.5 s round trip per request (unverified for a whole-chain answer).
def providers(contracts: float) -> list[sm.ProviderLimit]:
    from options_pipeline.plan import ASSUMED_SECONDS_PER_REQUEST as rtt

    poly = sm.polygon_history_requests(contracts)
    return [
        sm.ProviderLimit("Massive free", poly, 5 / 60, "5 requests/min (polygon-notes)"),
        sm.ProviderLimit("Massive paid", poly, 100.0, "'unlimited', stay under ~100/s"),
        sm.ProviderLimit("ThetaData Standard", 2.0, 4 / rtt, f"4 in flight, {rtt} s each [U]"),
        sm.ProviderLimit("ThetaData Pro", 2.0, 8 / rtt, f"8 in flight, {rtt} s each [U]"),
        sm.ProviderLimit("ORATS", 1.0, 1000 / 60, "1,000 requests/min"),
        sm.ProviderLimit("Alpha Vantage premium", 1.0, 75 / 60, "from 75 requests/min [P]"),
    ]


TARGET_SYMBOLS, TARGET_SESSIONS = 500, 1260
SCENARIOS = (
    (6000, "6,000 (the benchmark's chain; liquid ETF/large cap within 90 days)"),
    (2500, "2,500 (assumed mean of a 500-name list: a few index/ETF chains at 9,000-24,000, "
           "most single names far fewer) [U]"),
)  # fmt: skip


def budget(result: Result) -> sm.Budget:
    disk = 2e12  # a 2 TB volume for the database server (assumption)
    return sm.Budget(disk_bytes=disk, backfill_s=7 * sm.DAY, event_log_bytes=0.05 * disk)


def command(p: dict[str, Any]) -> str:
    env = [
        f"BENCH_SCALE_{k.upper()}={p[k]}"
        for k, default in (("months", 12), ("symbols", 20), ("contracts", 6000))
        if p.get(k) != default
    ]
    if p.get("dealer_sessions"):
        env.append(f"BENCH_SCALE_DEALER_SESSIONS={p['dealer_sessions']}")
    return " ".join([*env, "make bench-scale"])


def section(result: Result) -> str:
    p = result.params
    cps = result.checkpoints
    first, last = cps[0], cps[-1]
    lines = [
        SECTION_START,
        "## Year scale (`make bench-scale`)",
        "",
        f"Written by `{command(p)}` (options_pipeline_tests/benchmarks/bench_scale.py) on "
        f"{result.started}, {result.seconds / 60:.0f} min in total; on demand, not part of "
        "`make test` or `make bench`. One pass, "
        f"{p['symbols']} symbols x {p['contracts']:,} sample contracts per session from "
        f"{p['start']}, filled by `ingest_options --provider sample` (one Dagster run per "
        f"session) into a private embedded PostgreSQL with the project's schema and Dagster on "
        f"dagster-postgres, then `dealer_metrics` via {last.dealer_path}"
        + (
            f" over the last {p['dealer_sessions']} sessions of each segment (bounded to fit "
            "the shared machine's time; per partition it is the same work)"
            if p.get("dealer_sessions")
            else " over the same sessions"
        )
        + "; "
        "figures recorded at cumulative checkpoints. Load average (1 min) at each checkpoint: "
        + ", ".join(f"{c.months} mo {c.load[0]:.1f}" for c in cps)
        + f" on {os.cpu_count()} cores shared with other sessions (times scale with it).",
        "",
        "| checkpoint | sessions | rows | ingest wall (segment) | rows/s (segment) | "
        "rows/s (cumulative) | DB bytes/Mrow: table / indexes / ledger / total (MB) | "
        "dealer backfill (segment) | dealer s per partition | event-log bytes per partition "
        "(chains run / dealer run) | peak RSS: ingest CLI / dealer CLI / PostgreSQL process / "
        "PostgreSQL PSS sum |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    prev: Checkpoint | None = None
    ingest_total = 0.0
    for c in cps:
        seg_rows = c.segment_rows(prev)
        ingest_total += c.ingest_s
        db = c.db
        ev_ch, ev_de = _event_bytes(c, prev)
        r_ch, _, b_ch = _job_bytes(c, "options_chains_job")
        r_de, _, b_de = _job_bytes(c, "__ASSET_JOB")
        lines.append(
            f"| {c.months} month(s) | {c.sessions} | {c.rows:,} | {c.ingest_s:,.0f} s "
            f"| {seg_rows / c.ingest_s:,.0f} | {c.rows / ingest_total:,.0f} "
            f"| {_mrow(db['chains_heap'] + db['chains_other'], c.rows)} / "
            f"{_mrow(db['chains_indexes'], c.rows)} / {_mrow(db['ledger_total'], c.rows)} / "
            f"{_mrow(db['chains_total'] + db['ledger_total'], c.rows)} "
            f"| {c.dealer_s:,.0f} s ({c.dealer_partitions} sessions) "
            f"| {c.dealer_s / c.dealer_partitions:.2f} s "
            f"| {ev_ch / 1e3:,.0f} / {ev_de / 1e3:,.0f} kB on disk (logical per run: "
            f"{b_ch / max(r_ch, 1) / 1e3:,.0f} / {b_de / max(r_de, 1) / 1e3:,.0f} kB) "
            f"| {c.ingest_rss_kb / 1024:,.0f} / {c.dealer_rss_kb / 1024:,.0f} / "
            f"{c.server_hwm_kb / 1024:,.0f} / {c.server_pss_kb / 1024:,.0f} MB |"
        )
        prev = c
    db = last.db
    t = last.dagster["tables"]
    rows = last.rows
    seg_first = first.segment_rows(None) / first.ingest_s
    seg_last = last.segment_rows(cps[-2] if len(cps) > 1 else None) / last.ingest_s
    per_mrow_first = (first.db["chains_total"] + first.db["ledger_total"]) / first.rows
    per_mrow_last = (db["chains_total"] + db["ledger_total"]) / rows
    ev_first = sum(_event_bytes(first, None))
    ev_last = sum(_event_bytes(last, cps[-2] if len(cps) > 1 else None))
    dealer_first = first.dealer_s / first.dealer_partitions
    dealer_last = last.dealer_s / last.dealer_partitions
    lines += [
        "",
        f"Growth from the first to the last checkpoint (per-unit figures; linear = within "
        f"15 %; load average {first.load[0]:.1f} -> {last.load[0]:.1f}, and the times move "
        f"with it more than with the history): ingest time per row "
        f"{growth(1 / seg_first, 1 / seg_last)}; bytes per row "
        f"{growth(per_mrow_first, per_mrow_last)}; dealer time per partition "
        f"{growth(dealer_first, dealer_last)}; event-log bytes per partition "
        f"{growth(ev_first, ev_last)}; peak RSS of the ingest CLI "
        f"{growth(first.ingest_rss_kb, last.ingest_rss_kb, 'flat')} "
        f"({first.ingest_rss_kb / 1024:,.0f} -> {last.ingest_rss_kb / 1024:,.0f} MB), of the "
        f"largest PostgreSQL process {growth(first.server_hwm_kb, last.server_hwm_kb, 'flat')} "
        f"({first.server_hwm_kb / 1024:,.0f} -> {last.server_hwm_kb / 1024:,.0f} MB).",
        "",
        f"Sizes at {last.months} month(s) ({rows:,} rows, {last.sessions} sessions): "
        f"options_chains heap {sm.human_bytes(db['chains_heap'])}, indexes "
        f"{sm.human_bytes(db['chains_indexes'])}, TOAST/maps {sm.human_bytes(db['chains_other'])}"
        f" (total {sm.human_bytes(db['chains_total'])}); ledger option_chain_snapshots "
        f"{sm.human_bytes(db['ledger_total'])}; dealer_metrics {sm.human_bytes(db['dealer_total'])}"
        f"; the whole database {sm.human_bytes(db['database'])}. Dagster database "
        f"{sm.human_bytes(last.dagster['database'])}: event_logs "
        f"{sm.human_bytes(t.get('event_logs', 0))}, runs {sm.human_bytes(t.get('runs', 0))}, "
        f"run_tags {sm.human_bytes(t.get('run_tags', 0))}, asset_keys "
        f"{sm.human_bytes(t.get('asset_keys', 0))}, asset_check_executions "
        f"{sm.human_bytes(t.get('asset_check_executions', 0))}, asset_event_tags "
        f"{sm.human_bytes(t.get('asset_event_tags', 0))}.",
        "",
    ]
    sup = result.dealer_supplement
    if sup:
        lines += [
            f"The dealer path changed after this pass started: a separate "
            f"`{sup['command']}` on {sup['started']} (load {sup['load']:.1f}) ran `dealer_metrics`"
            f" via {sup['path']} over {sup['sessions']} sessions of {sup['rows']:,} rows: "
            f"{sup['seconds']:,.0f} s, {sup['seconds'] / sup['sessions']:.2f} s per partition, "
            f"peak RSS {sup['rss_kb'] / 1024:,.0f} MB"
            + (
                f", {sup['event_kb']:,.0f} kB of event log per partition on disk"
                if sup.get("event_kb")
                else ""
            )
            + ". The projection below uses its time per partition.",
            "",
        ]
    lines += extrapolation(result)
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def extrapolation(result: Result) -> list[str]:
    m = measured(result)
    b = budget(result)
    out = [
        f"### Extrapolated to {TARGET_SYMBOLS} symbols x {TARGET_SESSIONS:,} sessions (~5 years)",
        "",
        f"From the last checkpoint: {m.bytes_per_mrow / MB:,.0f} MB per million rows (table + "
        f"indexes + ledger), {m.ingest_rows_per_s:,.0f} rows/s through `ingest_options` (wall, "
        f"start-up and one Dagster run per session included; one process, sessions in order), "
        f"{m.dealer_s_per_symbol_session:.3f} s of dealer backfill per (session, symbol), "
        f"{m.event_log_bytes_per_partition / 1e3:,.0f} kB of Dagster event log and run storage "
        f"per session (both assets, {m.symbols} symbols). Assumptions: all of these scale "
        "linearly (as measured above), the dealer time also with the chain size; the event "
        "log per session grows in proportion to the "
        "symbols (an upper bound: part of each run's events is fixed); provider time = pairs x "
        "requests per pair / documented rate, sequential sessions; limits: a 2 TB database "
        "volume, a 7-day backfill window, an event log of 5 % of the volume. [U] = unverified.",
        "",
        "| | " + " | ".join(f"{c:,} contracts/symbol" for c, _ in SCENARIOS) + " |",
        "|---|" + "---|" * len(SCENARIOS),
    ]
    projections = []
    for contracts, _ in SCENARIOS:
        d = sm.Deployment(TARGET_SYMBOLS, TARGET_SESSIONS, contracts)
        projections.append((d, sm.extrapolate(m, d, providers(contracts))))

    def line(label: str, cells: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    line("rows", [f"{pr.rows / 1e9:,.2f} billion" for _, pr in projections])
    line(
        "disk (table + indexes + ledger)", [sm.human_bytes(pr.disk_bytes) for _, pr in projections]
    )
    line("ingest at the measured rate", [sm.human_seconds(pr.ingest_s) for _, pr in projections])
    line("dealer backfill", [sm.human_seconds(pr.dealer_s) for _, pr in projections])
    line(
        "Dagster event log + run storage",
        [sm.human_bytes(pr.event_log_bytes) for _, pr in projections],
    )
    for lim in providers(SCENARIOS[0][0]):
        cells = []
        for d, pr in projections:
            p_lim = next(x for x in providers(d.contracts_per_symbol) if x.name == lim.name)
            seconds = sm.human_seconds(pr.provider_s[lim.name])
            cells.append(f"{seconds} ({p_lim.requests_per_pair:g} req/pair)")
        line(f"provider: {lim.name} ({lim.source})", cells)
    line(
        "one new session (daily run): rows / ingest",
        [f"{pr.daily_rows:,.0f} / {sm.human_seconds(pr.daily_ingest_s)}" for _, pr in projections],
    )
    line(
        "one new session: Massive free / Massive paid / ORATS",
        [
            " / ".join(
                sm.human_seconds(pr.daily_provider_s[n])
                for n in ("Massive free", "Massive paid", "ORATS")
            )
            for _, pr in projections
        ],
    )
    for name in ("Massive free", "Massive paid", "ORATS", "ThetaData Standard"):
        line(
            f"first limit, backfill through {name}",
            ["{} ({:.0%} of its budget)".format(*pr.first_limit(b, name)) for _, pr in projections],
        )
    free = result.disk_free_before
    out += [
        "",
        "Chain sizes: " + "; ".join(text for _, text in SCENARIOS) + ". README figures: SPY "
        "~9,000 contracts, SPX ~20,000 identities (~24,000 rows with SPXW).",
        f"On this machine ({sm.human_bytes(free)} free when the run started) the disk is hit "
        f"first, at ~{free / m.bytes_per_mrow * 1e6 / 1e9:,.2f} billion rows.",
        "",
    ]
    return out


def write_section(text: str, path: Path = OUTPUT) -> None:
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION_START in doc and SECTION_END in doc:
        head, rest = doc.split(SECTION_START, 1)
        doc = head + text.rstrip("\n") + rest.split(SECTION_END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


def kept_section(path: Path = OUTPUT) -> str:
    """This section of the current BENCHMARKS.md (for `make bench`, which rewrites the file)."""
    if not path.exists():
        return ""
    doc = path.read_text()
    if SECTION_START not in doc or SECTION_END not in doc:
        return ""
    return SECTION_START + doc.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0] + SECTION_END


def supplement(other: Result) -> dict[str, Any]:
    cps = other.checkpoints
    sessions = sum(c.dealer_partitions for c in cps)
    seconds = sum(c.dealer_s for c in cps)
    return {
        "command": command(other.params),
        "started": other.started,
        "load": cps[-1].load[0],
        "path": cps[-1].dealer_path,
        "sessions": sessions,
        "rows": cps[-1].rows,
        "seconds": seconds,
        "rss_kb": max(c.dealer_rss_kb for c in cps),
        "s_per_symbol_session": seconds / (sessions * other.params["symbols"]),
        "event_kb": _event_bytes(cps[0], None)[1] / 1e3 if len(cps) == 1 else 0.0,
    }


def load(path: Path) -> Result:
    raw = json.loads(path.read_text())
    cps = [Checkpoint(**{**c, "load": tuple(c["load"])}) for c in raw.pop("checkpoints")]
    return Result(**raw, checkpoints=cps)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--dealer-backfill"]:  # the measured subprocess of run()
        return dealer_backfill(args[1], args[2])
    if args[:1] == ["--from-json"]:
        # re-render a saved run: `--from-json FILE [--dealer-from FILE2] [--write 1]`, FILE2 a
        # later pass whose dealer figures replace the run's in the projection
        result = load(Path(args[1]))
        if "--dealer-from" in args:
            result.dealer_supplement = supplement(load(Path(args[args.index("--dealer-from") + 1])))
        write = "--write" in args and args[args.index("--write") + 1] == "1"
    else:
        params = parse(args)
        result = run(params)
        write = params.write
        saved = Path(tempfile.gettempdir()) / "bench_scale_last.json"
        saved.write_text(json.dumps(asdict(result), default=str, indent=1))
        _log(f"raw figures saved to {saved}")
    text = section(result)
    print(text)
    if write:
        write_section(text)
        _log(f"section written to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
