"""Run trading days through the options_chains asset, one Dagster run per day, in order.

Used by `ingest_options`: every day it fills shows in the UI as a materialized partition with its
own run, exactly as if it had been launched there.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    JobDefinition,
    RunsFilter,
)
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id
from dagster_shared.error import SerializableErrorInfo

from options_pipeline.assets.options_chains import COMPLETENESS_CHECK, POOL, options_chains
from options_pipeline.db.connection import connection
from options_pipeline.db.presence import run_presence
from options_pipeline.db.store import completed_pairs, ingestion_lock
from options_pipeline.exit_codes import ExitCode
from options_pipeline.ingest import resolve_symbols
from options_pipeline.jobs import options_chains_job
from options_pipeline.loggers import CLI_CONSOLE, show_progress
from options_pipeline.pool_slot import (
    HOST_TAG,
    PID_TAG,
    Interrupted,
    Signals,
    SlotWaiter,
    WaitExpired,
    pid_alive,
)
from options_pipeline.progress import Progress
from options_pipeline.resources import ProviderResource

_log = logging.getLogger("options_pipeline.cli")


@dataclass(frozen=True, slots=True)
class DayLine:
    day: date
    ingested: int
    skipped: int
    failed: int
    rows: int
    gaps: tuple[str, ...]  # "SYMBOL (reason)"
    requests: int
    run_id: str  # "" when the day was already complete and no run was launched


def run_days(
    days: list[date],
    *,
    database_url: str,
    provider: ProviderResource,
    watchlist: str | None,
    symbols: list[str] | None,
    heartbeat: int,
    log_level: int,
    wait: float | None = None,
) -> int:
    """Materialize each day's partition sequentially; print the report; 0 if complete, else 1.

    SIGINT/SIGTERM end the range within seconds (exit 130/143): the symbol being written is rolled
    back, the days already done stay done, and the report says what was not run."""
    instance = DagsterInstance.get()
    # one process making many storage calls (a few per event, a run per day): hold pooled
    # connections as dagster-webserver does, instead of a new connection per call (dagster-
    # postgres' default, ~5-10 ms each on a busy server)
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=10)
    _recover_dead_runs(instance)
    _ensure_pool(instance, database_url)
    job = options_chains_job_def()
    op_config: dict[str, object] = {"heartbeat": heartbeat, "symbols": symbols or []}
    if watchlist:
        op_config["watchlist"] = watchlist
    run_config = {
        "ops": {"options_chains": {"config": op_config}},
        "loggers": {CLI_CONSOLE: {"config": {"log_level": logging.getLevelName(log_level)}}},
    }
    lines: list[DayLine] = []
    _log.info("ingest_options: %d day(s) %s..%s", len(days), days[0], days[-1])
    complete = _complete_days(database_url, days, watchlist=watchlist, symbols=symbols)
    progress = _start_progress(
        days, database_url, watchlist, symbols, shown=log_level <= logging.INFO
    )
    try:
        with Signals().installed() as signals:
            slot = SlotWaiter(
                instance, database_url, POOL, options_chains.key.to_python_identifier(), signals
            )
            return _run_each(
                days,
                job,
                instance,
                run_config,
                provider,
                lines,
                progress,
                slot,
                database_url,
                wait,
                complete,
            )
    finally:
        progress.close()
        show_progress(None)


def _start_progress(
    days: list[date],
    database_url: str,
    watchlist: str | None,
    symbols: list[str] | None,
    *,
    shown: bool,
) -> Progress:
    with connection(database_url) as conn:
        selected = resolve_symbols(conn, watchlist=watchlist, symbols=symbols)
        done = len(completed_pairs(conn, days, selected))
    pairs = len(days) * len(selected)
    progress = Progress(sessions=len(days), pairs=pairs, pairs_to_fetch=pairs - done, shown=shown)
    show_progress(progress)
    progress.start_ticking()
    return progress


def _complete_days(
    database_url: str, days: list[date], *, watchlist: str | None, symbols: list[str] | None
) -> dict[date, int]:
    """Days already complete for every selected symbol -> how many symbols that is."""
    with connection(database_url) as conn:
        selected = resolve_symbols(conn, watchlist=watchlist, symbols=symbols)
        done = completed_pairs(conn, days, selected)
    return {day: len(selected) for day in days if all((day, symbol) in done for symbol in selected)}


def _run_each(
    days: list[date],
    job: JobDefinition,
    instance: DagsterInstance,
    run_config: dict[str, Any],
    provider: ProviderResource,
    lines: list[DayLine],
    progress: Progress,
    slot: SlotWaiter,
    database_url: str,
    wait: float | None,
    complete: dict[date, int],
) -> int:
    tags = {
        "options_pipeline/launched_by": "ingest_options",
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
    }
    for n, day in enumerate(days):
        if day in complete:
            # nothing to fetch: no run, no new materialization overwriting the day's metadata
            _log.info("%s: complete for every selected symbol (skipped, no run)", day)
            lines.append(
                DayLine(
                    day=day,
                    ingested=0,
                    skipped=complete[day],
                    failed=0,
                    rows=0,
                    gaps=(),
                    requests=0,
                    run_id="",
                )
            )
            progress.session_done(pairs=complete[day], fetched=0, rows=0, requests=0)
            continue
        run_id = make_new_run_id()
        try:
            with run_presence(database_url, run_id):
                slot.claim(run_id, wait=wait)
                try:
                    result = job.execute_in_process(
                        partition_key=day.isoformat(),
                        instance=instance,
                        run_id=run_id,
                        run_config=run_config,
                        tags=tags,
                        raise_on_error=False,
                        resources={"provider": provider},
                    )  # --provider: the CLI's binding
                except (KeyboardInterrupt, DagsterExecutionInterruptedError):
                    raise Interrupted(slot.signals.received() or signal.SIGINT) from None
                finally:
                    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            signum = slot.signals.received()
            if signum is not None:
                raise Interrupted(signum)
        except Interrupted as stop:
            progress.close()
            return _interrupted(stop.signum, day, days[n:], run_id, lines)
        except WaitExpired as busy:
            progress.close()
            print(f"ingest_options: error: {busy}", file=sys.stderr)
            _print_report(lines, not_run=days[n:])
            return ExitCode.BUSY
        if not result.success:
            message, user_error = _failure(result)
            progress.close()
            print(f"ingest_options: error: {message} (run {result.run_id[:8]})", file=sys.stderr)
            _print_report(lines, not_run=days[n:])
            return ExitCode.USAGE if user_error else ExitCode.RUN_FAILED
        line = _day_line(day, result)
        lines.append(line)
        # every selected symbol was handled; the day's gaps may name other active symbols
        per_session = progress.pairs // progress.sessions
        progress.session_done(
            pairs=per_session,
            fetched=per_session - line.skipped,
            rows=line.rows,
            requests=line.requests,
        )
    progress.close()
    _print_report(lines)
    _log.info("ingest_options: done")
    return ExitCode.OK if not any(line.gaps for line in lines) else ExitCode.GAPS


def _interrupted(
    signum: int, day: date, not_run: list[date], run_id: str, lines: list[DayLine]
) -> int:
    name = signal.Signals(signum).name
    print(
        f"ingest_options: stopped by {name} at {day} (run {run_id[:8]}); every symbol "
        "written is complete, none half-written; re-run the same command to resume",
        file=sys.stderr,
    )
    _print_report(lines, not_run=not_run)
    return ExitCode.for_signal(signum)


def _failure(result: ExecuteInProcessResult) -> tuple[str, bool]:
    """The run's failure as one line, and whether it is the user's (a Failure we raised)."""
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    if failure is None:
        failure = next((e for e in result.all_events if e.is_run_failure), None)
        data = failure.event_specific_data if failure else None
        error = getattr(data, "error", None)
        return (_root_cause(error) if error else "run failed"), False
    error = failure.step_failure_data.error
    user_failure = failure.step_failure_data.user_failure_data
    if user_failure is not None and user_failure.description:
        return user_failure.description, True
    return (_root_cause(error) if error else "run failed"), False


def _root_cause(error: SerializableErrorInfo) -> str:
    """The innermost cause's first line, not Dagster's "Error occurred while executing" wrapper."""
    while error.cause is not None:
        error = error.cause
    first = (error.message.strip().splitlines() or [error.cls_name or "error"])[0]
    return first if first.startswith(f"{error.cls_name}") else f"{error.cls_name}: {first}"


def _recover_dead_runs(instance: DagsterInstance) -> None:
    """Runs of ingest_options on this host whose process died (SIGKILL, lost database) stay
    NOT_STARTED (killed while being created) or STARTED, the latter keeping the pool's only slot:
    mark them failed and free their slots. Run monitoring would only time them out
    (max_runtime_seconds): in-process runs have no worker to check."""
    runs = instance.get_runs(
        RunsFilter(
            statuses=[
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
            ],
            tags={HOST_TAG: socket.gethostname()},
        )
    )
    for run in runs:
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid and not pid_alive(pid):
            _log.warning(
                "run %s: its ingest_options process %d is gone; marking it failed and "
                "freeing its pool slot",
                run.run_id[:8],
                pid,
            )
            instance.report_run_failed(run, f"ingest_options process {pid} died during the run")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def _ensure_pool(instance: DagsterInstance, database_url: str) -> None:
    """Create the pool's limit row once, serialised: two runs creating it together can fail one
    of them with a duplicate key inside Dagster's PostgreSQL storage (dagster-io/dagster#33552,
    INSERT-then-UPDATE after a UniqueViolation in an aborted transaction)."""
    storage = instance.event_log_storage
    if POOL in {limit.name for limit in storage.get_pool_limits()}:
        return
    with connection(database_url) as conn, ingestion_lock(conn):
        if POOL not in {limit.name for limit in storage.get_pool_limits()}:
            storage.initialize_concurrency_limit_to_default(POOL)


def options_chains_job_def() -> JobDefinition:
    """options_chains_job as the code location defines it (the UI runs the same one)."""
    from options_pipeline.definitions import defs

    return defs.resolve_job_def(options_chains_job.name)


def _day_line(day: date, result: ExecuteInProcessResult) -> DayLine:
    metadata: dict[str, Any] = {}
    for mat in result.asset_materializations_for_node("options_chains"):
        if mat.partition == day.isoformat():
            metadata = {k: v.value for k, v in mat.metadata.items()}
    check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == COMPLETENESS_CHECK
    )
    missing: list[dict[str, str]] = cast(Any, check.metadata["missing"].value)
    gaps = tuple(f"{m['symbol']} ({m['reason']})" for m in missing if m["date"] == day.isoformat())
    return DayLine(
        day=day,
        ingested=int(metadata.get("symbols_ingested", 0)),
        skipped=int(metadata.get("symbols_skipped", 0)),
        failed=len(gaps),
        rows=int(metadata.get("rows_written", 0)),
        gaps=gaps,
        requests=int(cast(Any, check.metadata["provider_requests"].value)),
        run_id=result.run_id,
    )


def _print_report(lines: list[DayLine], not_run: list[date] | None = None) -> None:
    """The per-day table; "complete" only when every requested day ran and has no gap."""
    if lines:
        print(f"{'date':<12}{'ingested':>9}{'skipped':>9}{'failed':>8}{'rows':>10}  run")
        for line in lines:
            print(
                f"{line.day!s:<12}{line.ingested:>9}{line.skipped:>9}{line.failed:>8}"
                f"{line.rows:>10}  {line.run_id[:8] or 'complete (skipped)'}"
            )
        print(
            f"{'total':<12}{sum(x.ingested for x in lines):>9}"
            f"{sum(x.skipped for x in lines):>9}{sum(x.failed for x in lines):>8}"
            f"{sum(x.rows for x in lines):>10}"
        )
    gaps = [(line.day, gap) for line in lines for gap in line.gaps]
    if gaps:
        print(f"gaps remain ({len(gaps)}); re-run the same command to retry them:")
        for day, gap in gaps:
            print(f"  {day} {gap}")
    if not_run:
        span = f"{not_run[0]}" + (f"..{not_run[-1]}" if len(not_run) > 1 else "")
        print(
            f"incomplete: {len(not_run)} day(s) not run ({span}); re-run the same command to resume"
        )
    elif lines and not gaps:
        skipped = sum(1 for line in lines if not line.run_id)
        note = f" ({skipped} already complete, skipped without a run)" if skipped else ""
        print(f"complete: {len(lines)} day(s){note}")
