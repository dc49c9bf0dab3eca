"""options_chains: one weekday partition = one trading day of chains for every active symbol.

Thin: the work is `ingest_day`. Each finished day is recorded as its own materialization as soon
as it completes, so a range run that fails half-way still shows exactly the days that are done.
"""

import logging
from collections.abc import Iterator
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    BackfillPolicy,
    Config,
    Failure,
    MetadataValue,
    asset,
)

from options_pipeline.db.connection import DatabaseUnavailable
from options_pipeline.db.presence import run_presence
from options_pipeline.db.store import missing_symbols
from options_pipeline.ingest import DayReport, NothingToIngest, ProviderDown, ingest_day
from options_pipeline.partitions import trading_days
from options_pipeline.providers.base import Unauthorized
from options_pipeline.resources import PostgresResource, ProviderResource

COMPLETENESS_CHECK = "every_active_symbol_has_a_snapshot"
POOL = "options_chains"  # limit 1 in the instance's dagster.yaml: one ingestion at a time
FATAL_REASONS = {Unauthorized: "unauthorized", DatabaseUnavailable: "database_unavailable",
                 NothingToIngest: "nothing_to_ingest", ProviderDown: "provider_unreachable"}


class OptionsChainsConfig(Config):
    watchlist: str | None = None  # only this watchlist's active symbols (default: all watchlists)
    symbols: list[str] = []  # a subset of the active symbols (default: all of them)
    heartbeat: int = 25  # log progress every N symbols per day


def day_metadata(report: DayReport) -> dict[str, object]:
    return {
        "complete": report.complete,
        "provider": report.provider,
        "symbols_total": len(report.symbols),
        "symbols_ingested": len(report.ingested),
        "symbols_skipped": len(report.skipped),
        "symbols_failed": len(report.failed),
        "failed": MetadataValue.json(
            {f.symbol: f"{f.reason}: {f.message}" for f in report.failed}
        ),
        "rows_written": report.rows_written,
        "rows_rejected": report.rows_rejected,
        "provider_requests": report.provider_requests,
        "duration_s": report.duration_s,
    }


@asset(
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    pool=POOL,
    output_required=False,
    check_specs=[AssetCheckSpec(COMPLETENESS_CHECK, asset="options_chains",
                                description="every active symbol has a snapshot for the day")],
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
    # one INFO line per session is ingest_day's summary; the run's frame is DEBUG
    context.log.debug("options_chains: %d day(s) %s..%s via %s", len(days), days[0], days[-1],
                      chains.name)
    reports: list[DayReport] = []
    # whoever launched this run, its presence lock tells a waiting CLI the slot's holder is alive
    with run_presence(database.resolved_url(), context.run.run_id):
        yield from _ingest_days(context, config, database, chains, days, reports)
    with database.get_connection() as conn:
        missing = missing_symbols(conn, days, config.watchlist)
    reasons = {(r.day, f.symbol): f"{f.reason}: {f.message}" for r in reports for f in r.failed}
    gaps = [{"date": d.isoformat(), "symbol": s, "reason": reasons.get((d, s), "not ingested")}
            for d, s in missing]
    context.log.log(logging.INFO if len(days) > 1 else logging.DEBUG,
                    "options_chains done: %d day(s), %d rows written, %d gap(s)", len(reports),
                    sum(r.rows_written for r in reports), len(gaps))
    yield AssetCheckResult(
        check_name=COMPLETENESS_CHECK,
        passed=not gaps,
        severity=AssetCheckSeverity.ERROR,
        metadata={"days": len(days), "missing_count": len(gaps),
                  "missing": MetadataValue.json(gaps),
                  # also spent on days without data, which have no materialization
                  "provider_requests": sum(r.provider_requests for r in reports)},
    )


def _ingest_days(context: AssetExecutionContext, config: OptionsChainsConfig,
                 database: PostgresResource, chains, days: list[date],
                 reports: list[DayReport]) -> Iterator[AssetMaterialization]:  # fmt: skip
    for day in days:
        try:
            with database.get_connection() as conn:
                report = ingest_day(conn, provider=chains, day=day, watchlist=config.watchlist,
                                    symbols=config.symbols or None, heartbeat=config.heartbeat,
                                    log=context.log)
        except (Unauthorized, DatabaseUnavailable, NothingToIngest, ProviderDown) as exc:
            # expected conditions: a clear message, no stack trace to read through
            reason = next(v for k, v in FATAL_REASONS.items() if isinstance(exc, k))
            raise Failure(description=f"{day}: {exc}", metadata={"reason": reason}) from None
        reports.append(report)
        if report.has_data:
            yield AssetMaterialization(asset_key=context.asset_key, partition=day.isoformat(),
                                       metadata=day_metadata(report))
