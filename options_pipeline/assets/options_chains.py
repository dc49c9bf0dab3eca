"""options_chains: one partition = one NYSE session of chains for every active symbol.

Thin: the work is `ingest_day`. Each day that wrote something is recorded as its own
materialization as soon as it completes, so a range run that fails half-way still shows exactly
the days that are done; a day that was already complete emits nothing (a re-run neither
overwrites its metadata nor triggers dealer_metrics again).
"""

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from options_pipeline.automation import options_chains_condition
from options_pipeline.calendar import MARKET_TIMEZONE, today_in_new_york
from options_pipeline.db.connection import DatabaseUnavailable
from options_pipeline.db.presence import run_presence
from options_pipeline.db.store import day_row_count, missing_symbols
from options_pipeline.ingest import DayReport, NothingToIngest, ProviderDown, ingest_day
from options_pipeline.partitions import trading_days
from options_pipeline.providers.base import Unauthorized
from options_pipeline.resources import PostgresResource, ProviderResource

COMPLETENESS_CHECK = "every_active_symbol_has_a_snapshot"
POOL = "options_chains"  # limit 1 in the instance's dagster.yaml: one ingestion at a time
FATAL_REASONS = {
    Unauthorized: "unauthorized",
    DatabaseUnavailable: "database_unavailable",
    NothingToIngest: "nothing_to_ingest",
    ProviderDown: "provider_unreachable",
}


class OptionsChainsConfig(Config):
    watchlist: str | None = None  # only this watchlist's active symbols (default: all watchlists)
    symbols: list[str] = []  # a subset of the active symbols (default: all of them)
    heartbeat: int = 25  # log progress every N symbols per day


def day_metadata(report: DayReport) -> dict[str, Any]:
    return {
        "complete": report.complete,
        "provider": report.provider,
        "symbols_total": len(report.symbols),
        "symbols_ingested": len(report.ingested),
        "symbols_skipped": len(report.skipped),
        "symbols_failed": len(report.failed),
        "failed": MetadataValue.json({f.symbol: f"{f.reason}: {f.message}" for f in report.failed}),
        "rows_written": report.rows_written,
        "rows_rejected": report.rows_rejected,
        "provider_requests": report.provider_requests,
        "duration_s": report.duration_s,
    }


TABLE = "public.options_chains"
CHAIN_COLUMNS = TableSchema(
    columns=[
        TableColumn(
            "time", "timestamptz", description="session D at 23:59:59 UTC (snapshot identity)"
        ),
        TableColumn("ticker_id", "uuid", description="public.tickers.id"),
        TableColumn("expiration_date", "date"),
        TableColumn("strike_price", "numeric(12,4)"),
        TableColumn("option_type", "char(1)", description="C or P"),
        *(TableColumn(name, "numeric") for name in ("bid", "ask", "last")),
        TableColumn("volume", "integer"),
        TableColumn("open_interest", "integer", description="as known at D's open"),
        *(
            TableColumn(name, "numeric")
            for name in ("implied_volatility", "delta", "gamma", "theta", "vega")
        ),
        TableColumn("created_at", "timestamptz"),
    ]
)

# The user's own tables, maintained outside this code location (watchlist CLI, their systems):
# declared so the lineage tickers/watchlists -> options_chains shows in the UI.
tickers = AssetSpec(
    "tickers",
    group_name="options",
    kinds={"postgres"},
    description="public.tickers: one row per symbol (maintained externally)",
    metadata={"dagster/table_name": "public.tickers"},
)
watchlists = AssetSpec(
    "watchlists",
    group_name="options",
    kinds={"postgres"},
    description="public.watchlists: which symbols are ingested (active rows)",
    metadata={"dagster/table_name": "public.watchlists"},
)

# A missed daily load: nothing materialized between 17:30 and 20:00 New York on a weekday. (The
# cron knows no holidays: on an exchange holiday this reports a miss that is not one.)
DAILY_LOAD_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron="0 20 * * 1-5",
    lower_bound_delta=timedelta(hours=2, minutes=30),
    timezone=MARKET_TIMEZONE,
)


@asset(
    partitions_def=trading_days,
    deps=[tickers, watchlists],
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=options_chains_condition,
    freshness_policy=DAILY_LOAD_FRESHNESS,
    metadata={"dagster/table_name": TABLE, "dagster/column_schema": CHAIN_COLUMNS},
    pool=POOL,
    output_required=False,
    check_specs=[
        AssetCheckSpec(
            COMPLETENESS_CHECK,
            asset="options_chains",
            description="every active symbol has a snapshot for the day",
        )
    ],
    kinds={"postgres"},
    group_name="options",
    description="Daily option-chain snapshots (public.options_chains + the completion ledger).",
)
def options_chains(
    context: AssetExecutionContext,
    config: OptionsChainsConfig,
    database: PostgresResource,
    provider: ProviderResource,
) -> Iterator[AssetMaterialization | AssetCheckResult]:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    chains = provider.client
    # one INFO line per session is ingest_day's summary; every line is an event-log write, so
    # the run's frame logs nothing more (the range and provider are in the run's tags/metadata)
    reports: list[DayReport] = []
    today = today_in_new_york()
    # whoever launched this run, its presence lock tells a waiting CLI the slot's holder is alive
    with run_presence(database.resolved_url(), context.run.run_id):
        yield from _ingest_days(context, config, database, chains, days, reports, today)
    with database.get_connection() as conn:
        missing = missing_symbols(conn, [d for d in days if d <= today], config.watchlist)
    if config.symbols:  # the gaps of the selection, not of every active symbol
        missing = [(d, s) for d, s in missing if s in set(config.symbols)]
    reasons = {(r.day, f.symbol): f"{f.reason}: {f.message}" for r in reports for f in r.failed}
    gaps = [
        {"date": d.isoformat(), "symbol": s, "reason": reasons.get((d, s), "not ingested")}
        for d, s in missing
    ]
    if len(days) > 1:  # a one-day run's summary is ingest_day's line
        context.log.info(
            "options_chains done: %d day(s), %d rows written, %d gap(s)",
            len(reports),
            sum(r.rows_written for r in reports),
            len(gaps),
        )
    yield AssetCheckResult(
        check_name=COMPLETENESS_CHECK,
        passed=not gaps,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "days": len(days),
            "missing_count": len(gaps),
            "missing": MetadataValue.json(gaps),
            # also spent on days without data, which have no materialization
            "provider_requests": sum(r.provider_requests for r in reports),
        },
    )


def _ingest_days(
    context: AssetExecutionContext,
    config: OptionsChainsConfig,
    database: PostgresResource,
    chains,
    days: list[date],
    reports: list[DayReport],
    today: date,
) -> Iterator[AssetMaterialization]:
    in_backfill = "dagster/backfill" in context.run.tags
    for day in days:
        if day > today:
            # a holiday evening's after-close tick points at the next session: not traded yet
            context.log.info(
                "%s: not traded yet (today is %s in New York); nothing to do", day, today
            )
            continue
        try:
            with database.get_connection() as conn:
                report = ingest_day(
                    conn,
                    provider=chains,
                    day=day,
                    watchlist=config.watchlist,
                    symbols=config.symbols or None,
                    heartbeat=config.heartbeat,
                    log=context.log,
                )
                stored = day_row_count(conn, day)
        except (Unauthorized, DatabaseUnavailable, NothingToIngest, ProviderDown) as exc:
            # expected conditions: a clear message, no stack trace to read through
            reason = next(v for k, v in FATAL_REASONS.items() if isinstance(exc, k))
            raise Failure(description=f"{day}: {exc}", metadata={"reason": reason}) from None
        reports.append(report)
        # A UI backfill counts a requested partition without a materialization as failed, so
        # there a complete day is still recorded; elsewhere (automation, CLI) it emits nothing.
        if report.ingested or (
            report.has_data and (in_backfill or not _materialized(context, day))
        ):
            yield AssetMaterialization(
                asset_key=context.asset_key,
                partition=day.isoformat(),
                metadata=day_metadata(report)
                | {
                    "dagster/table_name": TABLE,
                    "dagster/row_count": stored,
                    "dagster/partition_row_count": stored,
                },
            )
        elif report.has_data:
            context.log.info("%s: already complete; no new materialization", day)


def _materialized(context: AssetExecutionContext, day: date) -> bool:
    """Whether this instance already records a materialization of `day` (data written by another
    instance, or before the instance existed, still needs one so the partition shows)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[day.isoformat()]), limit=1
    )
    return bool(records.records)
