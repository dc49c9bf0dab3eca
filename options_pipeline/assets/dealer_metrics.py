"""dealer_metrics: GEX, walls, gamma flip and window confidence per trading day, from stored chains.

Thin: the work is `compute_dealer_day`. Depends on the N options_chains partitions ending on its
own day; `deps=` does not check they exist, so the computation reads the ledger itself.
"""

import base64
from collections.abc import Iterator
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AutomationCondition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from options_pipeline.charts import gex_by_strike_png
from options_pipeline.db.store import dealer_metrics_with_nan
from options_pipeline.dealer import DealerDayReport, compute_dealer_day
from options_pipeline.metrics.params import MetricsParams
from options_pipeline.metrics.window import WindowParams
from options_pipeline.partitions import trading_days
from options_pipeline.resources import PostgresResource

WINDOW_DAYS = 5
CHARTS_IN_METADATA = 6  # keep the event log small: charts for the first symbols only


class DealerMetricsConfig(Config):
    window: int = WINDOW_DAYS  # N trading days ending on the partition's date
    convention: str = "dealer_long_calls_short_puts"  # or "dealer_short_calls_long_puts"
    rate: float = 0.0
    dividend_yield: float = 0.0
    min_open_interest: float = 100.0
    min_volume: float = 1.0
    max_dte_days: int = 90
    wall_range: float = 0.20
    grid_range: float = 0.20
    grid_points: int = 201
    watchlist: str | None = None

    def metrics_params(self) -> MetricsParams:
        return MetricsParams(
            convention=self.convention, rate=self.rate, dividend_yield=self.dividend_yield,
            min_open_interest=self.min_open_interest, min_volume=self.min_volume,
            max_dte_days=self.max_dte_days, wall_range=self.wall_range,
            grid_range=self.grid_range, grid_points=self.grid_points,
        )


CHECKS = {
    "flip_within_grid": "the gamma flip lies inside the re-pricing grid (spot ± grid range)",
    "walls_within_range": "call and put walls lie within spot ± wall range",
    "no_nan_stored": "no NaN in the stored numeric columns",
}


@asset(
    partitions_def=trading_days,
    deps=[AssetDep("options_chains", partition_mapping=TimeWindowPartitionMapping(
        start_offset=-(WINDOW_DAYS - 1), end_offset=0))],
    automation_condition=AutomationCondition.eager().without(
        AutomationCondition.in_latest_time_window()),
    check_specs=[AssetCheckSpec(name, asset="dealer_metrics", description=text)
                 for name, text in CHECKS.items()],
    kinds={"postgres", "numpy"},
    group_name="options",
    description="Dealer gamma exposure per symbol and day, graded by the N-day window.",
)
def dealer_metrics(
    context: AssetExecutionContext, config: DealerMetricsConfig, database: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    day = date.fromisoformat(context.partition_key)
    params = config.metrics_params()
    with database.get_connection() as conn:
        report = compute_dealer_day(conn, day=day, params=params,
                                    window=WindowParams(window=config.window),
                                    watchlist=config.watchlist)
        nan_symbols = dealer_metrics_with_nan(conn, day)
    if report.missing_own_snapshot:
        missing = ", ".join(f"({day}, {s})" for s in report.missing_own_snapshot)
        raise Failure(f"options_chains snapshot missing for {missing}; backfill options_chains "
                      f"for {day} first", metadata={"computed": len(report.results)})
    for name, passed, detail in _checks(report, params, nan_symbols):
        yield AssetCheckResult(check_name=name, passed=passed, metadata={"detail": detail})
    context.log.info("dealer_metrics %s: %d symbol(s)", day, len(report.results))
    yield MaterializeResult(metadata=_metadata(report))


def _checks(report: DealerDayReport, params: MetricsParams, nan_symbols: list[str]):
    flips_outside, walls_outside = [], []
    for r in report.results:
        spot, m = r.day.spot, r.day
        if spot is None:
            continue
        low, high = spot * (1 - params.grid_range), spot * (1 + params.grid_range)
        if m.flip is not None and not low <= m.flip <= high:
            flips_outside.append(f"{r.symbol} flip {m.flip:.2f} outside [{low:.2f}, {high:.2f}]")
        w_low, w_high = spot * (1 - params.wall_range), spot * (1 + params.wall_range)
        walls_outside += [f"{r.symbol} wall {w.strike}" for w in (*m.call_walls, *m.put_walls)
                          if not w_low <= w.strike <= w_high]
    yield "flip_within_grid", not flips_outside, "; ".join(flips_outside) or "ok"
    yield "walls_within_range", not walls_outside, "; ".join(walls_outside) or "ok"
    yield "no_nan_stored", not nan_symbols, ", ".join(nan_symbols) or "ok"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _metadata(report: DealerDayReport) -> dict[str, object]:
    lines = ["| symbol | status | confidence | days | spot | net GEX ($/1%) | flip | call wall "
             "| put wall | position |", "|---|---|---|---|---|---|---|---|---|---|"]
    charts = []
    for r in report.results:
        m, w = r.day, r.window
        lines.append(
            f"| {r.symbol} | {m.status} | {w.confidence} | {w.days_present}/{w.window} "
            f"| {_fmt(m.spot)} | {_fmt(m.gex_net, 0)} | {_fmt(m.flip)} "
            f"| {_fmt(m.call_walls[0].strike if m.call_walls else None)} "
            f"| {_fmt(m.put_walls[0].strike if m.put_walls else None)} | {m.position or '—'} |")
        if len(charts) < CHARTS_IN_METADATA and m.status != "INVALID":
            png = gex_by_strike_png(m, title=f"{r.symbol} {m.as_of} net GEX by strike")
            charts.append(f"![{r.symbol}](data:image/png;base64,"
                          f"{base64.b64encode(png).decode()})")
    return {
        "symbols": len(report.results),
        "summary": MetadataValue.md("\n".join(lines)),
        "gex_by_strike": MetadataValue.md("\n\n".join(charts) or "no valid chain"),
        "statuses": MetadataValue.json({r.symbol: r.day.status for r in report.results}),
    }
