"""dealer_metrics: GEX, walls, gamma flip and window confidence per session, from stored chains.

Thin: the work is `compute_dealer_day`. Depends on the N options_chains partitions (sessions)
ending on its own day; `deps=` does not check they exist, so the computation reads the ledger
itself. The checks read the rows as stored (`dealer.check_stored`), not the in-memory results.
"""

import base64
from collections.abc import Iterator
from datetime import date
from typing import Any, cast

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    TimeWindowPartitionMapping,
    asset,
)

from options_pipeline.automation import dealer_metrics_condition
from options_pipeline.charts import gex_by_strike_png
from options_pipeline.db.store import dealer_metrics_row_count
from options_pipeline.dealer import (
    CHECKS,
    MODEL_VERSION,
    WARN_CHECKS,
    DealerDayReport,
    check_stored,
    compute_dealer_day,
)
from options_pipeline.metrics.params import GEX_UNITS, Convention, MetricsParams
from options_pipeline.metrics.window import WindowParams
from options_pipeline.partitions import trading_days
from options_pipeline.resources import PostgresResource

WINDOW_DAYS = 5
CHARTS_IN_METADATA = 8  # compact charts (a few kB each): the event stays small at any size


class DealerMetricsConfig(Config):
    window: int = WINDOW_DAYS  # N sessions ending on the partition's date
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
            convention=cast(Convention, self.convention),  # validated by MetricsParams
            rate=self.rate,
            dividend_yield=self.dividend_yield,
            min_open_interest=self.min_open_interest,
            min_volume=self.min_volume,
            max_dte_days=self.max_dte_days,
            wall_range=self.wall_range,
            grid_range=self.grid_range,
            grid_points=self.grid_points,
        )


DEALER_COLUMNS = TableSchema(
    columns=[
        TableColumn(
            "time", "timestamptz", description="session D at 23:59:59 UTC (snapshot identity)"
        ),
        TableColumn("ticker_id", "uuid", description="public.tickers.id"),
        TableColumn("as_of", "date", description="the session D"),
        TableColumn("status", "text", description="FULL, LIMITED or INVALID"),
        TableColumn(
            "confidence", "text", description="high / medium / low over the N-session window"
        ),
        TableColumn(
            "days_present", "integer", description="sessions of the window with a snapshot"
        ),
        TableColumn("window_days", "integer", description="N"),
        TableColumn("spot", "numeric"),
        TableColumn("gex_net", "numeric", description=f"net dealer GEX, {GEX_UNITS}"),
        TableColumn("gex_total", "numeric", description=f"Σ |GEX|, {GEX_UNITS}"),
        TableColumn("gamma_flip", "numeric"),
        TableColumn("call_wall", "numeric"),
        TableColumn("put_wall", "numeric"),
        TableColumn("abs_gamma_strike", "numeric"),
        TableColumn("gex_slope", "numeric"),
        TableColumn("dealer_position", "text"),
        TableColumn("eligible_contracts", "integer"),
        TableColumn("total_contracts", "integer"),
        TableColumn("sign_convention", "text"),
        TableColumn("units", "text"),
        TableColumn("document", "jsonb", description="every metric, the window summary, params"),
        TableColumn("model_version", "text", description="the code_version that computed the row"),
        TableColumn("computed_at", "timestamptz"),
    ]
)
TABLE = "public.dealer_metrics"


@asset(
    partitions_def=trading_days,
    # offsets count partitions, i.e. sessions: the window of D is the N sessions ending on D
    deps=[
        AssetDep(
            "options_chains",
            partition_mapping=TimeWindowPartitionMapping(
                start_offset=-(WINDOW_DAYS - 1), end_offset=0
            ),
        )
    ],
    automation_condition=dealer_metrics_condition,
    code_version=MODEL_VERSION,
    check_specs=[
        AssetCheckSpec(name, asset="dealer_metrics", description=text)
        for name, text in CHECKS.items()
    ],
    metadata={"dagster/table_name": TABLE, "dagster/column_schema": DEALER_COLUMNS},
    kinds={"postgres", "numpy"},
    group_name="options",
    description="Dealer gamma exposure per symbol and session, graded by the N-session window.",
)
def dealer_metrics(
    context: AssetExecutionContext, config: DealerMetricsConfig, database: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    day = date.fromisoformat(context.partition_key)
    params = config.metrics_params()
    with database.get_connection() as conn:
        report = compute_dealer_day(
            conn,
            day=day,
            params=params,
            window=WindowParams(window=config.window),
            watchlist=config.watchlist,
        )
        if not report.results:
            missing = ", ".join(report.missing_own_snapshot) or "no active symbols"
            raise Failure(
                f"no options_chains snapshot for {day} for any active symbol "
                f"({missing}); backfill options_chains for {day} first",
                metadata={
                    "missing_snapshot": MetadataValue.json(list(report.missing_own_snapshot))
                },
            )
        # read back what was stored: the checks see the table, not the in-memory results
        outcomes = check_stored(conn, day, list(report.symbols))
        stored = dealer_metrics_row_count(conn, day)
    if report.missing_own_snapshot:
        context.log.warning(
            "dealer_metrics %s: no snapshot for %s (skipped)",
            day,
            ", ".join(report.missing_own_snapshot),
        )
    for outcome in outcomes:
        warn = outcome.name in WARN_CHECKS
        yield AssetCheckResult(
            check_name=outcome.name,
            passed=outcome.passed,
            severity=AssetCheckSeverity.WARN if warn else AssetCheckSeverity.ERROR,
            metadata={"detail": outcome.detail},
        )
    context.log.info("dealer_metrics %s: %d symbol(s)", day, len(report.results))
    # the partition's slice of the table: the rows stored for D
    yield MaterializeResult(
        metadata=_metadata(report)
        | {
            "dagster/table_name": TABLE,
            "dagster/row_count": stored,
            "dagster/partition_row_count": stored,
        }
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _metadata(report: DealerDayReport) -> dict[str, Any]:
    lines = [
        "| symbol | status | confidence | days | spot | net GEX ($/1%) | flip | call wall "
        "| put wall | position |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    charts: list[str] = []
    for r in report.results:
        m, w = r.day, r.window
        lines.append(
            f"| {r.symbol} | {m.status} | {w.confidence} | {w.days_present}/{w.window} "
            f"| {_fmt(m.spot)} | {_fmt(m.gex_net, 0)} | {_fmt(m.flip)} "
            f"| {_fmt(m.call_walls[0].strike if m.call_walls else None)} "
            f"| {_fmt(m.put_walls[0].strike if m.put_walls else None)} | {m.position or '—'} |"
        )
        if len(charts) < CHARTS_IN_METADATA and m.status != "INVALID":
            png = gex_by_strike_png(m, title=f"{r.symbol} {m.as_of} call / put GEX by strike")
            charts.append(f"![{r.symbol}](data:image/png;base64,{base64.b64encode(png).decode()})")
    more = len(report.results) - len(charts)
    if charts and more > 0:
        charts.append(f"{more} more symbol(s): `options-pipeline metrics show {report.as_of}`")
    return {
        "symbols": len(report.results),
        "missing_snapshot": MetadataValue.json(list(report.missing_own_snapshot)),
        "summary": MetadataValue.md("\n".join(lines)),
        "gex_by_strike": MetadataValue.md("\n\n".join(charts) or "no valid chain"),
        "statuses": MetadataValue.json({r.symbol: r.day.status for r in report.results}),
    }
