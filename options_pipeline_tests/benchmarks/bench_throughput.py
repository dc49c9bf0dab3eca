"""Throughput at the database's limit: the ingest paths against raw COPY, HTTP rate, start-up.

Baseline "raw COPY": the same rows, encoded before the clock starts (the binary COPY stream of
each (session, symbol), built by the same encoder), COPYed into `options_chains_raw`, a copy of
options_chains with all its indexes and constraints (`LIKE ... INCLUDING ALL`) and its foreign
key to tickers (which LIKE does not copy, and which costs the server a look-up per row: the
user's table has it, so every writer pays it), one transaction per (session, symbol) like the
pipeline, on a fresh database. Nothing but the server's work and the socket: what the database
can take through one COPY stream. (`ingest_day` writes two symbols at once on two connections,
so on two or more cores it can exceed 1.) The detail also shows the same COPY without the
foreign key. Ratios are rows/s ours / rows/s raw (= raw time / our time); the sides alternate
(raw, ours, raw, ours, ...) and the median of each is reported.

Rows:
- sample market generation: contracts per second of `sample_chain` (6,000-contract chains);
- `ingest_day` alone: 4 symbols x 6 sessions x 6,000 contracts, sample provider, one call per
  session on a new connection (generation, validation, encoding, COPY, ledger);
- `ingest_options` CLI: 3 sessions x 20 symbols x 6,000 contracts (360,000 rows), wall time of
  the command in a subprocess (Python start-up, Dagster run per session, everything);
- HTTP: a day of 50 symbols through `ingest_day` and the Polygon provider against the local
  server in its own process enforcing 100 requests/s (429 above), 1,000-contract chains in full
  250-row pages (200 requests): achieved rate / 100 as the server saw the requests;
- start-up: `options-pipeline --help`, `ingest_options --help` and a usage error, wall time of the
  subprocess (median of 7), next to `python -c pass`.

Run alone: `python -m options_pipeline_tests.benchmarks.bench_throughput`
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.providers.polygon import PolygonProvider
from options_pipeline.providers.sample import SampleProvider, sample_chain
from options_pipeline_tests.benchmarks._common import (
    BenchPostgres,
    ingest_at,
    median,
    quiet_gc,
    row,
    run_standalone,
    spread,
    timed,
)
from options_pipeline_tests.benchmarks._polygon_proc import PolygonProcess

SECTION = "6. throughput"
CONTRACTS = 6_000
DAY_SYMBOLS = ["AAPL", "IWM", "QQQ", "SPY"]
DAY_SESSIONS = [
    date(2025, 3, 3),
    date(2025, 3, 4),
    date(2025, 3, 5),
    date(2025, 3, 6),
    date(2025, 3, 7),
    date(2025, 3, 10),
]
CLI_SYMBOLS = [
    "AAPL",
    "AMD",
    "AMZN",
    "BA",
    "C",
    "DIS",
    "GOOGL",
    "IWM",
    "JPM",
    "META",
    "MSFT",
    "NFLX",
    "NVDA",
    "QQQ",
    "SPY",
    "T",
    "TSLA",
    "UBER",
    "WMT",
    "XOM",
]
CLI_START, CLI_END = date(2025, 3, 11), date(2025, 3, 13)
CLI_SESSIONS = [date(2025, 3, 11), date(2025, 3, 12), date(2025, 3, 13)]
REPEATS = 3
HTTP_DAY = date(2025, 3, 14)
HTTP_SYMBOLS = [a + b for a in "ABCDEFG" for b in "ABCDEFGH"][:50]
HTTP_CONTRACTS = 1_000
STARTUP_REPEATS = 7
BIN = Path(sys.executable).parent

WHY_GEN = (
    "CPU-bound numpy on a shared core: the median drops below 1 M/s only while other "
    "sessions' test suites hold both cores (0.51..1.46 M/s at load 5-9; best of 5 in-process "
    "1.17-1.59 M/s at load 5-10). Profile of a 6,000-contract chain (~5 ms quiet): "
    "sample_chain's own array arithmetic ~4 ms, Black-Scholes price and greeks "
    "(pricing.price_and_greeks) ~1.6 ms under cProfile, numpy's Poisson draws 0.19 ms (open "
    "interest) + 0.24 ms (volume): a cheaper open-interest draw would save under 0.2 ms (~4 %), "
    "so the market was left unchanged."
)
WHY_INGEST = (
    "ingest_day writes two symbols at once (two COPY streams, each (session, symbol) its own "
    "transaction) against raw's one stream, and measured 0.99-1.02 at load 5-10 (was 0.79 "
    "writing one at a time). Below 0.85 it is the machine: the server needs a core per stream "
    "and the fetch thread's generation + encoding (~12 ms per 6,000-contract chain quiet, "
    "pgcopy 7 ms of it) competes for the same two cores; the foreign key to tickers makes "
    "every stream's COPY ~1.6-1.9x slower (see raw without it)."
)
WHY_CLI = (
    "wall of the command = start-up + 3 Dagster runs + the ingest. Same run, interleaved, "
    "at load 10-14: base 62.4 s, now 38.2 s, raw 13.8 s (0.22 -> 0.36). CPU of the command "
    "(/usr/bin/time, one run): 5.0 s (was 6.6 s); of it imports ~1.6 s (dagster ~0.9 s, "
    "dagster_postgres + sqlalchemy ~0.4 s, pyarrow through options_pipeline.resources.files "
    "~0.2 s; pandas + exchange_calendars gone with the calendar cache), the three runs' Dagster "
    "bookkeeping ~0.3-0.5 s each (create_run, ~18 events, the asset check), generation + "
    "encoding ~0.7 s. Under this load a CPU second of the CPU-bound start-up takes 3-5 s of "
    "wall (imports 4-12 s), while raw COPY is one server process. Next: import "
    "dagster_postgres/resources lazily where the command does not need them."
)
WHY_HTTP = (
    "measured under a load average of 12-15 on 2 cores shared with other sessions' test "
    "suites: 0.178-0.193 (0.148..0.221 over two runs), up from 0.128 at load 11-14 before. "
    "Profile of one 250-row "
    "page: the server's CPU 3.8 ms (JSON encoding, in its own process), the client's 2.0 ms "
    "(thread CPU: orjson 0.6 ms + the column-wise page into ChainBuilder.add_columns; 5.4-6.4 "
    "ms before with json.loads and a per-row add), i.e. ~6 ms of CPU per page on both sides, "
    "0.6 of a core at 100/s, with 4 symbols in flight so the two overlap. At load 12-15 the "
    "two processes got a small share of the 2 cores: one page's round trip alone was 45 ms "
    "median (p90 80 ms) against 3.8 ms of server CPU, and the server (one GIL for its 4 "
    "connections) completed ~18 pages/s in all. Re-run on a quiet machine (`make bench`) for "
    "the figure the code allows."
)


# ------------------------------------------------------------------------------ raw COPY


def _ticker_id(symbol: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"{symbol}.bench")


def _buffers(symbols: list[str], sessions: list[date]) -> list[bytes]:
    out = []
    for day in sessions:
        for symbol in symbols:
            snap = sample_chain(symbol, day, CONTRACTS)
            out.append(store.chain_copy_buffer(snap, ticker_id=_ticker_id(symbol)))
    return out


def _raw_copy(
    pg: BenchPostgres, buffers: list[bytes], symbols: list[str], *, foreign_key: bool = True
) -> float:
    url = pg.fresh_database()
    with connection(url) as conn:
        conn.execute("CREATE TABLE options_chains_raw (LIKE public.options_chains INCLUDING ALL)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.tickers (id, symbol) VALUES (%s, %s)",
                [(_ticker_id(s), s) for s in symbols],
            )
        if foreign_key:
            conn.execute(
                "ALTER TABLE options_chains_raw ADD FOREIGN KEY (ticker_id) "
                "REFERENCES public.tickers (id) ON DELETE CASCADE"
            )
    columns = ", ".join(store._CHAIN_COLUMNS)

    def load() -> None:
        with connection(url) as conn, conn.cursor() as cur:
            for buffer in buffers:
                with (
                    conn.transaction(),
                    cur.copy(
                        f"COPY options_chains_raw ({columns}) FROM STDIN (FORMAT BINARY)"
                    ) as cp,
                ):
                    cp.write(buffer)

    elapsed, _ = timed(load)
    return elapsed


def _rows(n_rows: int, seconds: float) -> str:
    return f"{n_rows / seconds:,.0f} rows/s"


# ------------------------------------------------------------------------------ rows


def _sample_generation() -> dict[str, Any]:
    days = DAY_SESSIONS
    for d in days:
        sample_chain("SPY", d, CONTRACTS)  # warm the spot paths and expiry caches

    def gen() -> int:
        return sum(sample_chain(s, d, CONTRACTS).contract_count for s in DAY_SYMBOLS for d in days)

    runs = [timed(gen) for _ in range(5)]
    rates = [n / t for t, n in runs]
    rate = median(rates)
    return row(
        SECTION,
        f"sample market generation [{len(DAY_SYMBOLS) * len(days)} chains x "
        f"{CONTRACTS:,} contracts, columns]",
        f"{rate / 1e6:.2f} M contracts/s",
        ">= 1 M/s",
        rate >= 1e6,
        f"{spread(rates, 1e-6)} M/s over 5 runs",
        why=WHY_GEN,
    )


def _ingest_day(pg: BenchPostgres) -> dict[str, Any]:
    buffers = _buffers(DAY_SYMBOLS, DAY_SESSIONS)
    n_rows = len(buffers) * CONTRACTS
    ours: list[float] = []
    raw: list[float] = []
    raw_no_fk: list[float] = []
    for _ in range(REPEATS):
        raw.append(_raw_copy(pg, buffers, DAY_SYMBOLS))
        raw_no_fk.append(_raw_copy(pg, buffers, DAY_SYMBOLS, foreign_key=False))
        url = pg.fresh_database(watchlist="bench", symbols=DAY_SYMBOLS)
        provider = SampleProvider(contracts_per_symbol=CONTRACTS)

        def ingest(url: str = url, provider: SampleProvider = provider) -> int:
            return sum(ingest_at(url, provider=provider, day=d).rows_written for d in DAY_SESSIONS)

        elapsed, written = timed(ingest)
        assert written == n_rows, written
        ours.append(elapsed)
    ratio = median(raw) / median(ours)
    return row(
        SECTION,
        f"ingest_day alone vs raw COPY into an indexed copy of options_chains "
        f"[{len(DAY_SYMBOLS)} symbols x {len(DAY_SESSIONS)} sessions x {CONTRACTS:,} "
        "contracts, sample provider]",
        f"{ratio:.2f}",
        ">= 0.85",
        ratio >= 0.85,
        f"ours {median(ours):.2f} s ({spread(ours, unit=' s')}, "
        f"{_rows(n_rows, median(ours))}), raw {median(raw):.2f} s "
        f"({_rows(n_rows, median(raw))}), raw without the foreign key "
        f"{median(raw_no_fk):.2f} s (ratio {median(raw_no_fk) / median(ours):.2f}); "
        f"median of {REPEATS}, interleaved",
        why=WHY_INGEST,
    )


def _cli_env(pg: BenchPostgres, state: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER", "POLYGON"))}
    env.update(
        DATABASE_URL=url,
        OPTIONS_PIPELINE_HOME=str(state),
        DAGSTER_HOME=str(state / "dagster_home"),
        OPTIONS_PIPELINE_PROVIDER="sample",
        SAMPLE_CONTRACTS_PER_SYMBOL=str(CONTRACTS),
    )
    env.pop("OPTIONS_PIPELINE_START_DATE", None)
    return env


def _cli(pg: BenchPostgres) -> dict[str, Any]:
    buffers = _buffers(CLI_SYMBOLS, CLI_SESSIONS)
    n_rows = len(buffers) * CONTRACTS
    ours: list[float] = []
    raw: list[float] = []
    command = [
        str(BIN / "ingest_options"),
        "--provider",
        "sample",
        "--start-date",
        CLI_START.isoformat(),
        "--end-date",
        CLI_END.isoformat(),
        "--quiet",
    ]
    raw_no_fk: list[float] = []
    for _ in range(REPEATS):
        raw.append(_raw_copy(pg, buffers, CLI_SYMBOLS))
        raw_no_fk.append(_raw_copy(pg, buffers, CLI_SYMBOLS, foreign_key=False))
        url = pg.fresh_database(watchlist="bench", symbols=CLI_SYMBOLS)
        state = Path(tempfile.mkdtemp(prefix="bench_cli_"))
        try:
            env = _cli_env(pg, state, url)
            with quiet_gc():
                t0 = time.perf_counter()
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
                ours.append(time.perf_counter() - t0)
        finally:
            shutil.rmtree(state, ignore_errors=True)
        if done.returncode != 0:
            raise RuntimeError(f"ingest_options exited {done.returncode}: {done.stderr[-500:]}")
        with connection(url) as conn:
            stored = conn.execute("SELECT count(*) FROM options_chains").fetchone()[0]
        assert stored == n_rows, stored
    ratio = median(raw) / median(ours)
    return row(
        SECTION,
        f"ingest_options CLI vs raw COPY into an indexed copy of options_chains "
        f"[{len(CLI_SESSIONS)} sessions x {len(CLI_SYMBOLS)} symbols x {CONTRACTS:,} "
        f"contracts = {n_rows:,} rows, wall incl. start-up]",
        f"{ratio:.2f}",
        ">= 0.6",
        ratio >= 0.6,
        f"ours {median(ours):.1f} s ({spread(ours, unit=' s')}, "
        f"{_rows(n_rows, median(ours))}), raw {median(raw):.2f} s "
        f"({_rows(n_rows, median(raw))}), raw without the foreign key "
        f"{median(raw_no_fk):.2f} s (ratio {median(raw_no_fk) / median(ours):.2f}); "
        f"median of {REPEATS}, interleaved",
        why=WHY_CLI,
    )


def _http(pg: BenchPostgres) -> dict[str, Any]:
    ratios: list[float] = []
    n429 = 0
    sent = 0
    with PolygonProcess(today=HTTP_DAY, contracts=HTTP_CONTRACTS) as srv:
        for symbol in HTTP_SYMBOLS:
            srv.call("warm", symbol=symbol, day=HTTP_DAY.isoformat())
        for _ in range(REPEATS):
            url = pg.fresh_database(watchlist="bench", symbols=HTTP_SYMBOLS)
            srv.call("rate", limit=100, window=1.0)
            provider = PolygonProvider(
                api_key=srv.api_key,
                base_url=srv.base_url,
                rate_limit_per_minute=6000.0,
                rate_limit_window_seconds=1.0,  # the server counts 100 per second
                max_retries=20,
                backoff_base=0.05,
                backoff_max=1.0,
                clock=lambda: HTTP_DAY,
            )
            try:
                with quiet_gc():
                    report = ingest_at(url, provider=provider, day=HTTP_DAY)
            finally:
                provider.close()
            assert not report.failed, report.failed
            log = srv.call("log")
            ok = sorted(t for t, s in zip(log["t"], log["status"], strict=True) if s == 200)
            ratios.append((len(ok) - 1) / (ok[-1] - ok[0]) / 100.0)
            n429 += log["status"].count(429)
            sent += len(log["t"])
    ratio = median(ratios)
    return row(
        SECTION,
        f"HTTP: X = 100/s, full pages, a day through ingest_day (concurrent "
        f"symbols): achieved rate / X [{len(HTTP_SYMBOLS)} symbols x {HTTP_CONTRACTS:,} "
        "contracts in 250-row pages, server in a subprocess]",
        f"{ratio:.3f}, 429s: {n429}",
        ">= 0.95, 0 x 429",
        ratio >= 0.95 and n429 == 0,
        f"{spread(ratios)} over {REPEATS} runs; {sent} requests sent in all",
        why=WHY_HTTP,
    )


def _startup() -> list[dict[str, Any]]:
    cases = [
        ("options-pipeline --help", [str(BIN / "options-pipeline"), "--help"]),
        ("ingest_options --help", [str(BIN / "ingest_options"), "--help"]),
        (
            "usage error: ingest_options --start-date 2025-01-06",
            [str(BIN / "ingest_options"), "--start-date", "2025-01-06"],
        ),
        ("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(STARTUP_REPEATS):  # interleaved: each round runs every case once
        for name, argv in cases:
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True, timeout=120)
            times[name].append(time.perf_counter() - t0)
    out = []
    for name, _argv in cases:
        t = median(times[name])
        floor = name.startswith("python")
        out.append(
            row(
                SECTION,
                f"start-up: {name} [wall of the subprocess]",
                f"{t:.2f} s",
                "info" if floor else "< 1 s",
                None if floor else t < 1.0,
                f"{spread(times[name], unit=' s')}; median of {STARTUP_REPEATS}",
                why="imports at start-up: see `python -X importtime -m options_pipeline.cli`",
            )
        )
    return out


def run(pg: BenchPostgres) -> list[dict[str, Any]]:
    rows = [_sample_generation(), _ingest_day(pg)]
    pg.drop_all()
    rows.append(_cli(pg))
    pg.drop_all()
    rows.append(_http(pg))
    pg.drop_all()
    return rows + _startup()


if __name__ == "__main__":
    run_standalone(run)
