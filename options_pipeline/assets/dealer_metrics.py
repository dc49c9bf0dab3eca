"""dealer_metrics: GEX, walls, gamma flip and window confidence per session, from stored chains.

Thin: the work is `compute_dealer_range`. Depends on the N options_chains partitions (sessions)
ending on its own day; `deps=` does not check they exist, so the computation reads the ledger
itself. A range runs as one run per `SESSIONS_PER_RUN` sessions (Dagster's BackfillPolicy: UI
backfills, the automation sensor's catch-up and the CLI all chunk the same way), and the runs of a
backfill go through the run queue, so its concurrency is how a range scales out. Inside a run every
session is recorded as its own materialization and its own check results (the checks are
partitioned like the asset) as soon as it is stored, so each partition shows its own metadata and a
run that fails half-way keeps the sessions it finished. The checks read the rows as stored
(`dealer.check_stored`), not the in-memory results.
"""

import base64
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any, cast

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    MetadataValue,
    TableColumn,
    TableSchema,
    TimeWindowPartitionMapping,
    multi_asset,
)

# not re-exported by dagster; AssetCheckResult fills it the same way for a single-partition step
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from options_pipeline.automation import dealer_metrics_condition
from options_pipeline.charts import gex_by_strike_png
from options_pipeline.db.store import active_symbols, dealer_metrics_row_count
from options_pipeline.dealer import (
    CHECKS,
    MODEL_VERSION,
    WARN_CHECKS,
    CheckOutcome,
    DealerDayReport,
    RangeStats,
    check_stored,
    compute_dealer_range,
)
from options_pipeline.metrics.params import GEX_UNITS, Convention, MetricsParams
from options_pipeline.metrics.window import WindowParams
from options_pipeline.partitions import trading_days
from options_pipeline.resources import PostgresResource

WINDOW_DAYS = 5
# Sessions per run of a range (two trading weeks): a run re-reads the N - 1 sessions before its
# first one unless their stored results can be reused, so longer runs read less; more runs let a
# backfill use the run queue's concurrency.
SESSIONS_PER_RUN = 10
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


@multi_asset(
    name="dealer_metrics",
    specs=[
        AssetSpec(
            "dealer_metrics",
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
            metadata={"dagster/table_name": TABLE, "dagster/column_schema": DEALER_COLUMNS},
            kinds={"postgres", "numpy"},
            group_name="options",
            description=(
                "Dealer gamma exposure per symbol and session, graded by the N-session window."
            ),
        )
    ],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=SESSIONS_PER_RUN),
    # partitioned like the asset, so a range run records each session's own check results
    check_specs=[
        AssetCheckSpec(name, asset="dealer_metrics", description=text, partitions_def=trading_days)
        for name, text in CHECKS.items()
    ],
    # every output optional: a range run reports per session (AssetMaterialization and
    # AssetCheckEvaluation events with their partition), never one output for the whole run
    can_subset=True,
)
def dealer_metrics(
    context: AssetExecutionContext, config: DealerMetricsConfig, database: PostgresResource
) -> Iterator[AssetMaterialization | AssetCheckEvaluation]:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    if not context.selected_asset_keys:  # the checks alone: over what is stored, no recompute
        yield from _checks_only(context, config, database, days)
        return
    params = config.metrics_params()
    stats = RangeStats()
    failed: dict[str, str] = {}
    with database.get_connection() as conn:
        reports = compute_dealer_range(
            conn,
            days=days,
            params=params,
            window=WindowParams(window=config.window),
            watchlist=config.watchlist,
            stats=stats,
        )
        for report in reports:
            day = report.as_of
            if report.missing_own_snapshot:
                context.log.warning(
                    "dealer_metrics %s: no snapshot for %s (skipped)",
                    day,
                    ", ".join(report.missing_own_snapshot),
                )
            if not report.results:
                missing = ", ".join(report.missing_own_snapshot) or "no active symbols"
                failed[day.isoformat()] = (
                    f"no options_chains snapshot for {day} for any active symbol "
                    f"({missing}); backfill options_chains for {day} first"
                )
                continue
            # read back what was stored: the checks see the table, not the in-memory results
            outcomes = check_stored(conn, day, list(report.symbols))
            stored = dealer_metrics_row_count(conn, day)
            context.log.info("dealer_metrics %s: %d symbol(s)", day, len(report.results))
            # the partition's slice of the table: the rows stored for D
            yield AssetMaterialization(
                asset_key=context.asset_key,
                partition=day.isoformat(),
                metadata=_metadata(report)
                | {
                    "dagster/table_name": TABLE,
                    "dagster/row_count": stored,
                    "dagster/partition_row_count": stored,
                },
            )
            yield from _check_evaluations(context, day.isoformat(), outcomes)
    context.log.log(
        logging.INFO if len(days) > 1 else logging.DEBUG,
        "dealer_metrics %s..%s: %d session(s) over %d read, %d chain(s) read in %d "
        "query(ies), %d computed, %d reused from stored results",
        days[0],
        days[-1],
        len(days),
        stats.sessions,
        stats.chains_read,
        stats.chain_queries,
        stats.computed,
        stats.reused,
    )
    if failed:
        raise Failure(
            "; ".join(failed.values()),
            metadata={"failed_sessions": MetadataValue.json(failed)},
        )


def _checks_only(
    context: AssetExecutionContext,
    config: DealerMetricsConfig,
    database: PostgresResource,
    days: list[date],
) -> Iterator[AssetCheckEvaluation]:
    with database.get_connection() as conn:
        symbols = active_symbols(conn, config.watchlist)
        for day in days:
            outcomes = check_stored(conn, day, symbols)
            yield from _check_evaluations(context, day.isoformat(), outcomes)


def _check_evaluations(
    context: AssetExecutionContext, partition: str, outcomes: list[CheckOutcome]
) -> Iterator[AssetCheckEvaluation]:
    """One evaluation per check for `partition`, tied to the materialization just recorded
    (what AssetCheckResult does for a single-partition run, done per session of a range)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition]), limit=1
    ).records
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            run_id=records[0].event_log_entry.run_id,
            storage_id=records[0].storage_id,
            timestamp=records[0].timestamp,
        )
        if records
        else None
    )
    selected = {key.name for key in context.selected_asset_check_keys}
    for outcome in outcomes:
        if outcome.name not in selected:
            continue
        warn = outcome.name in WARN_CHECKS
        yield AssetCheckEvaluation(
            asset_key=context.asset_key,
            check_name=outcome.name,
            passed=outcome.passed,
            metadata={"detail": MetadataValue.text(outcome.detail)},
            severity=AssetCheckSeverity.WARN if warn else AssetCheckSeverity.ERROR,
            target_materialization_data=target,
            partition=partition,
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
