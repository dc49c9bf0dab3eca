"""Memory: peak RSS of a process ingesting one 20,000-contract chain through the Polygon HTTP path.

The local Polygon test server runs in its own process (`_polygon_proc`) and serves a 20,000-
contract sample chain; a fresh child process imports the pipeline, records its RSS (the
baseline: interpreter + imports), then runs `ingest_day` for one symbol with a PolygonProvider
pointed at the server — pages streamed and normalised as they arrive, then written with
`store.write_chain` — and reports its peak RSS: VmHWM of /proc/self/status, the kernel's
high-water mark of the process's resident set, which starts afresh at exec. (ru_maxrss, of
RUSAGE_SELF in the child or RUSAGE_CHILDREN in the parent, is not used: Linux carries the
pre-exec hiwater of the forked copy of the parent into it, so it reports at least the parent's
RSS — ~200 MB here once dagster and pandas are loaded.) Paths:

* backfill (D < today): /options/v1/open-interest + /options/v1/analytics, 5,000-row pages;
* current session (D == today): /v3/snapshot/options, 250-row pages;
* the backfill again in a process that first imports the code location
  (`options_pipeline.definitions`: dagster, numpy, ...), i.e. the baseline of a run worker.

Target: peak < 300 MB. Run alone: `python -m options_pipeline_tests.benchmarks.bench_memory`
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from typing import Any

from options_pipeline_tests.benchmarks._common import BenchPostgres, row, run_standalone
from options_pipeline_tests.benchmarks._polygon_proc import PolygonProcess

SECTION = "5. memory"
DAY = date(2025, 3, 14)
SYMBOL = "SPY"
CONTRACTS = 20_000
TARGET_MB = 300.0
_MODULE = "options_pipeline_tests.benchmarks.bench_memory"


def _vm(field: str) -> float:
    """VmRSS / VmHWM of this process in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(url: str, base_url: str, api_key: str, today: str, preload: str) -> None:
    """Runs in the measured process: imports, baseline, one ingest_day, report as JSON."""
    import gc
    import importlib

    if preload != "-":
        importlib.import_module(preload)
    from options_pipeline.providers.polygon import PolygonProvider
    from options_pipeline_tests.benchmarks._common import ingest_at

    gc.collect()
    baseline = _vm("VmRSS")
    provider = PolygonProvider(
        api_key=api_key,
        base_url=base_url,
        rate_limit_per_minute=6e6,
        clock=lambda: date.fromisoformat(today),
    )
    report = ingest_at(url, provider=provider, day=DAY)
    provider.close()
    print(
        json.dumps(
            {
                "baseline_mb": baseline,
                "peak_mb": _vm("VmHWM"),
                "rows": report.rows_written,
                "requests": report.provider_requests,
                "complete": report.complete,
            }
        )
    )


def _measure(pg: BenchPostgres, today: date, preload: str) -> dict[str, Any]:
    url = pg.fresh_database(watchlist="bench", symbols=[SYMBOL])
    with PolygonProcess(today=today, contracts=CONTRACTS) as srv:
        srv.call("warm", symbol=SYMBOL, day=DAY.isoformat())
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                _MODULE,
                "--child",
                url,
                srv.base_url,
                srv.api_key,
                today.isoformat(),
                preload,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["complete"] and result["rows"] >= CONTRACTS * 0.95, result
    return result


def run(pg: BenchPostgres) -> list[dict[str, Any]]:
    rows = []
    backfill = "backfill: open-interest + analytics, 5,000-row pages"
    for label, today, preload in (
        (backfill, DAY + timedelta(days=3), "-"),
        ("current session: chain snapshot, 250-row pages", DAY, "-"),
        (
            f"{backfill}; code location imported, as in a Dagster run worker",
            DAY + timedelta(days=3),
            "options_pipeline.definitions",
        ),
    ):
        m = _measure(pg, today, preload)
        peak = m["peak_mb"]
        rows.append(
            row(
                SECTION,
                f"peak RSS ingesting one {CONTRACTS:,}-contract chain via Polygon HTTP "
                f"(local server, streamed pages) [{label}]",
                f"{peak:.0f} MB",
                f"< {TARGET_MB:.0f} MB",
                peak < TARGET_MB,
                f"baseline after imports {m['baseline_mb']:.0f} MB, increment "
                f"{peak - m['baseline_mb']:.0f} MB (VmHWM); {m['rows']:,} rows, "
                f"{m['requests']} requests",
            )
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:7])
    else:
        run_standalone(run)
