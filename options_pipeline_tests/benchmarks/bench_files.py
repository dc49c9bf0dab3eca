"""Files provider: a synthetic full-market DataShop day, and the vectorised IV solve.

1. A DataShop EOD Calcs file of ~1,000,000 rows (20 watchlist underlyings — SPX with 24,000
   rows, 19 others with 4,000 — among ~3,000 other underlyings of ~290 rows each, sorted by
   underlying as DataShop writes them) is read by a fresh process: `prepare` streams the file
   once for the 20 symbols, then `fetch_chain` builds each snapshot. Reported: file rows per
   second of the streaming pass and of the whole day, and the process's peak RSS (VmHWM) above
   its baseline after imports. Plain and zipped.
2. `pricing.implied_volatility` over a 20,000-contract chain (median of 7), and its agreement
   with scipy's brentq on the textbook formula, contract by contract.

Figures go to the "Files provider" section of BENCHMARKS.md (kept by `make bench`).
Run: `.venv/bin/python -m options_pipeline_tests.benchmarks.bench_files`
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

import numpy as np

from options_pipeline_tests.datashop_files import CALCS_HEADER

DAY = date(2022, 2, 3)
WATCHLIST = [
    "SPX",
    "AAPL",
    "AMZN",
    "AMD",
    "BAC",
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
    "TSLA",
    "UBER",
    "V",
    "XOM",
    "NDX",
]
SECTION_START = "<!-- files-provider-benchmark -->"
SECTION_END = "<!-- /files-provider-benchmark -->"
ROOT = Path(__file__).resolve().parents[2]


def write_full_market(path: Path, *, target_rows: int = 1_000_000) -> int:
    """The synthetic day as one CSV (pyarrow's writer: a few seconds for 1M rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(7)
    sizes = {s: (24_000 if s == "SPX" else 4_000) for s in WATCHLIST}
    others = (target_rows - sum(sizes.values())) // 290
    for i in range(others):
        sizes[f"Z{i:04d}"] = 290
    names = sorted(sizes)
    with open(path, "wb") as out:
        out.write((",".join(CALCS_HEADER) + "\n").encode())  # unquoted, as DataShop writes it
        for chunk_start in range(0, len(names), 200):
            chunk = names[chunk_start : chunk_start + 200]
            counts = np.array([sizes[n] for n in chunk])
            n = int(counts.sum())
            und = np.repeat(
                np.array(["^" + c if c in ("SPX", "NDX") else c for c in chunk]), counts
            )
            spot = np.repeat(rng.uniform(20, 5000, len(chunk)), counts)
            strike = np.round(spot * rng.uniform(0.6, 1.4, n), 0)
            days = rng.integers(1, 700, n)
            expiration = (np.datetime64(DAY.isoformat()) + days).astype(str)
            t = days / 365.0
            call = rng.random(n) < 0.5
            vol = rng.uniform(0.15, 0.6, n)
            intrinsic = np.where(call, np.maximum(spot - strike, 0), np.maximum(strike - spot, 0))
            mid = intrinsic + spot * vol * np.sqrt(t) * 0.4 * np.exp(
                -np.abs(np.log(strike / spot)) / (vol * np.sqrt(t))
            )
            bid = np.round(np.maximum(mid - 0.05, 0.0), 2)
            ask = np.round(mid + 0.05, 2)
            cols = {
                "underlying_symbol": und,
                "quote_date": np.full(n, DAY.isoformat()),
                "root": np.char.lstrip(und.astype(str), "^"),
                "expiration": expiration,
                "strike": strike,
                "option_type": np.where(call, "c", "p"),
                "open": bid,
                "high": ask,
                "low": bid,
                "close": bid,
                "trade_volume": rng.integers(0, 500, n),
                "bid_size_1545": rng.integers(1, 50, n),
                "bid_1545": bid,
                "ask_size_1545": rng.integers(1, 50, n),
                "ask_1545": ask,
                "underlying_bid_1545": np.round(spot - 0.01, 2),
                "underlying_ask_1545": np.round(spot + 0.01, 2),
                "implied_underlying_price_1545": np.round(spot, 2),
                "active_underlying_price_1545": np.round(spot, 2),
                "implied_volatility_1545": np.round(vol, 4),
                "delta_1545": np.round(np.where(call, 0.5, -0.5), 4),
                "gamma_1545": np.full(n, 0.001),
                "theta_1545": np.full(n, -0.05),
                "vega_1545": np.full(n, 0.2),
                "rho_1545": np.full(n, 0.01),
                "bid_size_eod": rng.integers(1, 50, n),
                "bid_eod": bid,
                "ask_size_eod": rng.integers(1, 50, n),
                "ask_eod": ask,
                "underlying_bid_eod": np.round(spot - 0.01, 2),
                "underlying_ask_eod": np.round(spot + 0.01, 2),
                "vwap": bid,
                "open_interest": rng.integers(0, 20_000, n),
                "delivery_code": np.full(n, ""),
            }
            table = pa.table({c: cols[c] for c in CALCS_HEADER})
            pacsv.write_csv(
                table,
                out,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
            )
    return sum(sizes.values())


_CHILD = r"""
import json, sys, time
from datetime import date
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from options_pipeline.providers.files import FilesProvider
import pyarrow as pa, pyarrow.compute, pyarrow.csv  # imported before the baseline, as in a worker
import pandas  # pyarrow.compute's first use imports it (~1 s); a run worker has it loaded
base = hwm()
directory, symbols = sys.argv[1], sys.argv[2].split(",")
day = date.fromisoformat(sys.argv[3])
p = FilesProvider(directory)
t0 = time.perf_counter()
p.prepare(day, symbols)
t1 = time.perf_counter()
contracts = sum(len(p.fetch_chain(s, day).quotes) for s in symbols)
t2 = time.perf_counter()
print(json.dumps({"scan_s": t1 - t0, "total_s": t2 - t0, "contracts": contracts,
                  "baseline_mb": base, "peak_mb": hwm(),
                  "arrow_pool_peak_mb": pa.default_memory_pool().max_memory() / 2**20}))
"""


def read_day(directory: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory), ",".join(WATCHLIST), DAY.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def iv_solver(n: int = 20_000, repeats: int = 7) -> dict:
    from scipy.optimize import brentq
    from scipy.stats import norm

    from options_pipeline import pricing

    rng = np.random.default_rng(11)
    spot = 4500.0
    strike = np.round(spot * rng.uniform(0.7, 1.3, n), 0)
    t = rng.integers(1, 400, n) / 365.0
    vol = rng.uniform(0.08, 0.9, n)
    call = rng.random(n) < 0.5
    r, q = 0.03, 0.01
    d1 = (np.log(spot / strike) + (r - q + vol**2 / 2) * t) / (vol * np.sqrt(t))
    d2 = d1 - vol * np.sqrt(t)
    fwd, disc = spot * np.exp(-q * t), strike * np.exp(-r * t)
    prices = np.where(
        call, fwd * norm.cdf(d1) - disc * norm.cdf(d2), disc * norm.cdf(-d2) - fwd * norm.cdf(-d1)
    )
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = pricing.implied_volatility(prices, spot, strike, t, call, r, q)
        times.append(time.perf_counter() - t0)

    def textbook(v: float, k: float, tt: float, c: bool) -> float:
        a = (math.log(spot / k) + (r - q + v * v / 2) * tt) / (v * math.sqrt(tt))
        b = a - v * math.sqrt(tt)
        if c:
            return spot * math.exp(-q * tt) * norm.cdf(a) - k * math.exp(-r * tt) * norm.cdf(b)
        return k * math.exp(-r * tt) * norm.cdf(-b) - spot * math.exp(-q * tt) * norm.cdf(-a)

    lower, _ = pricing.no_arbitrage_bounds(spot, strike, t, call, r, q)
    quotable = np.flatnonzero(prices - lower >= 0.005)  # time value of at least half a tick
    true_err = np.abs(got[quotable] - vol[quotable])
    sample = rng.choice(quotable, 2_000, replace=False)
    diffs, price_diffs, unsolved = [], [], 0
    t0 = time.perf_counter()
    for i in sample:
        try:
            oracle = brentq(
                lambda v, i=i: textbook(v, strike[i], t[i], call[i]) - prices[i],
                1e-4,
                10.0,
                xtol=1e-15,
            )
        except ValueError:  # no time value left at double precision: neither can solve
            unsolved += 1
            continue
        if math.isnan(got[i]):
            unsolved += 1
            continue
        diffs.append(abs(got[i] - oracle))
        price_diffs.append(abs(textbook(got[i], strike[i], t[i], call[i]) - prices[i]))
    brentq_s = (time.perf_counter() - t0) / len(sample) * n
    return {
        "n": n,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "solved": int(np.isfinite(got).sum()),
        "compared": len(diffs),
        "max_abs_iv_diff": max(diffs),
        "median_abs_iv_diff": statistics.median(diffs),
        "max_abs_price_diff": max(price_diffs),
        "brentq_s_extrapolated": brentq_s,
        "unsolved_in_sample": unsolved,
        "quotable": len(quotable),
        "max_true_err": float(np.nanmax(true_err)),
        "nan_quotable": int(np.isnan(got[quotable]).sum()),
    }


def run() -> str:
    lines = [
        SECTION_START,
        "## Files provider (DataShop day, IV solve)",
        "",
        "Written by `.venv/bin/python -m options_pipeline_tests.benchmarks.bench_files` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (not a timed test).",
        "",
        "| measurement | figure | detail |",
        "|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir = Path(tmp) / "plain"
        plain_dir.mkdir()
        csv_path = plain_dir / f"UnderlyingOptionsEODCalcs_{DAY.isoformat()}.csv"
        t0 = time.perf_counter()
        rows = write_full_market(csv_path)
        made = time.perf_counter() - t0
        size_mb = csv_path.stat().st_size / 2**20
        print(f"wrote {rows:,} rows, {size_mb:.0f} MB in {made:.1f} s", file=sys.stderr)
        zip_dir = Path(tmp) / "zip"
        zip_dir.mkdir()
        with zipfile.ZipFile(
            zip_dir / (csv_path.stem + ".zip"),
            "w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=1,
        ) as zf:
            zf.write(csv_path, csv_path.name)
        for label, directory in (("plain CSV", plain_dir), ("zipped", zip_dir)):
            runs = [read_day(directory) for _ in range(3)]
            best = min(runs, key=lambda x: x["total_s"])
            scan_rate = [rows / x["scan_s"] for x in runs]
            total_rate = [rows / x["total_s"] for x in runs]
            lines.append(
                f"| DataShop day, {label}: file rows/s, streaming pass (`prepare`) | "
                f"{statistics.median(scan_rate):,.0f} | {rows:,} rows, {size_mb:.0f} MB CSV, "
                f"20 watchlist symbols of ~3,000; {min(scan_rate):,.0f}..{max(scan_rate):,.0f} "
                "over 3 fresh processes |"
            )
            lines.append(
                f"| DataShop day, {label}: file rows/s, whole day (pass + 20 snapshots) | "
                f"{statistics.median(total_rate):,.0f} | {best['contracts']:,} contracts kept; "
                f"{best['total_s']:.2f} s best |"
            )
            peak = max(x["peak_mb"] for x in runs)
            base = min(x["baseline_mb"] for x in runs)
            arrow = max(x["arrow_pool_peak_mb"] for x in runs)
            lines.append(
                f"| DataShop day, {label}: peak RSS (VmHWM) | {peak:.0f} MB | baseline after "
                f"imports {base:.0f} MB; pyarrow pool peak {arrow:.0f} MB |"
            )
    iv = iv_solver()
    lines.append(
        f"| pricing.implied_volatility, {iv['n']:,}-contract chain | {iv['median_s'] * 1000:.0f}"
        f" ms | median of 7 ({iv['min_s'] * 1000:.0f}..{iv['max_s'] * 1000:.0f} ms); "
        f"{iv['solved']:,} solved; scipy brentq per contract ≈ {iv['brentq_s_extrapolated']:.1f}"
        " s for the same chain |"
    )
    lines.append(
        f"| IV agreement with brentq (textbook BS, scipy.stats.norm) | max abs "
        f"{iv['max_abs_iv_diff']:.1e} | {iv['compared']:,} random contracts with a time value "
        f">= half a tick (0.005); median abs {iv['median_abs_iv_diff']:.1e}; max price error "
        f"{iv['max_abs_price_diff']:.1e}; {iv['unsolved_in_sample']} unsolved |"
    )
    lines.append(
        f"| IV vs the σ that generated the prices | max abs {iv['max_true_err']:.1e} | all "
        f"{iv['quotable']:,} quotable contracts of the chain; {iv['nan_quotable']} unsolved |"
    )
    load = os.getloadavg()
    lines += [
        "",
        f"Load average at the end of the run: {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} on {os.cpu_count()} logical cores (other processes share the "
        "machine; the rows/s figures scale with it).",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def write_section(section: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION_START in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n") if SECTION_END in rest else ""
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def kept_section(path: Path = ROOT / "BENCHMARKS.md") -> str:
    """This section of the current BENCHMARKS.md (for `make bench`, which rewrites the file)."""
    if not path.exists():
        return ""
    text = path.read_text()
    if SECTION_START not in text or SECTION_END not in text:
        return ""
    return SECTION_START + text.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0] + SECTION_END


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    section = run()
    print(section)
    write_section(section)
