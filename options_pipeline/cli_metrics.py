"""`options-pipeline metrics compute | show | history`.

compute runs the dealer_metrics asset for the sessions of a range through the project's Dagster
instance (one run per chunk of the asset's BackfillPolicy, visible in the UI, each session its own
partition); show and history read what is stored.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from options_pipeline.calendar import sessions_in_range
from options_pipeline.exit_codes import ExitCode

if TYPE_CHECKING:  # imported when the command runs, not for --help
    from options_pipeline.db import store

_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)

DEALER_METRICS = "dealer_metrics"
SAMPLE = "sample"
SAMPLE_NOTE = (
    "data: the synthetic sample market (provider 'sample'): generated chains, not market quotes"
)


def register(
    metrics: argparse._SubParsersAction[_Parser],
    *,
    # adds a verb to `metrics`: (verbs, name, help text, exit codes) -> its parser
    sub: Callable[[argparse._SubParsersAction[_Parser], str, str, str], argparse.ArgumentParser],
    parse_date: Callable[[str], date],
    parse_symbol: Callable[[str], str],
    report_codes: str,
    run_codes: str,
) -> None:
    compute = sub(
        metrics,
        "compute",
        "compute dealer metrics for the sessions of a range, "
        "through the project's Dagster instance (a run per chunk of sessions, in the UI)",
        run_codes.replace("gaps remain", "a session's own snapshot is missing"),
    )
    compute.add_argument("--start-date", type=parse_date, required=True, metavar="YYYY-MM-DD")
    compute.add_argument("--end-date", type=parse_date, required=True, metavar="YYYY-MM-DD")

    show = sub(
        metrics,
        "show",
        "one session's dealer metrics per symbol: spot, net and total "
        "GEX, flip and distance, walls, abs-gamma strike, confidence",
        report_codes,
    )
    show.add_argument("day", type=parse_date, metavar="YYYY-MM-DD")
    show.add_argument("--symbol", type=parse_symbol, help="only this symbol")
    _formats(show)

    history = sub(
        metrics, "history", "one symbol's dealer metrics session by session", report_codes
    )
    history.add_argument("symbol", type=parse_symbol, metavar="SYMBOL")
    history.add_argument("--start-date", type=parse_date, required=True, metavar="YYYY-MM-DD")
    history.add_argument("--end-date", type=parse_date, required=True, metavar="YYYY-MM-DD")
    _formats(history)


def _formats(parser: argparse.ArgumentParser) -> None:
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON document on stdout")
    out.add_argument("--csv", action="store_true", help="CSV with a header row on stdout")


def _range(args: argparse.Namespace, usage_error: Callable[[str], Exception]) -> list[date]:
    if args.end_date < args.start_date:
        raise usage_error(f"--end-date {args.end_date} is before --start-date {args.start_date}")
    days = sessions_in_range(args.start_date, args.end_date)
    if not days:
        raise usage_error(f"no sessions between {args.start_date} and {args.end_date}")
    return days


def run(url: str, args: argparse.Namespace, *, usage_error: Callable[[str], Exception]) -> int:
    from options_pipeline.db import store
    from options_pipeline.db.connection import connection

    if args.verb == "compute":
        return compute(_range(args, usage_error))
    if args.verb == "show":
        with connection(url) as conn:
            stored = store.stored_dealer_metrics(
                conn, [args.day], [args.symbol] if args.symbol else None
            )
        what = f"{args.day}" + (f" {args.symbol}" if args.symbol else "")
        return _output(
            stored,
            args,
            key="symbol",
            empty=f"no dealer metrics stored for {what}",
            doc={"session": args.day.isoformat()},
        )
    days = _range(args, usage_error)
    with connection(url) as conn:
        stored = store.stored_dealer_metrics(conn, days, [args.symbol])
    return _output(
        stored,
        args,
        key="session",
        empty=f"no dealer metrics stored for {args.symbol} in {args.start_date}..{args.end_date}",
        doc={
            "symbol": args.symbol,
            "start_date": args.start_date.isoformat(),
            "end_date": args.end_date.isoformat(),
        },
    )


def _output(
    stored: list[store.StoredDealerMetrics],
    args: argparse.Namespace,
    *,
    key: str,
    empty: str,
    doc: dict[str, str],
) -> int:
    from options_pipeline.metrics import summary as fmt

    rows = [
        fmt.summary(
            m.document,
            session=m.as_of.isoformat(),
            symbol=m.symbol,
            status=m.status,
            confidence=m.confidence,
            days_present=m.days_present,
            window_days=m.window_days,
        )
        | {"provider": m.provider}
        for m in stored
    ]
    if args.json:
        print(json.dumps({**doc, "units": "USD per 1% move", "rows": rows}, indent=2))
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(fmt.CSV_COLUMNS)
        writer.writerows(fmt.csv_row(r) for r in rows)
    elif rows:
        print("\n".join(fmt.render_table(key, [(r[key], r) for r in rows])))
        print(
            "GEX in USD per 1% move of the underlying; spot→flip in % of spot; "
            f"convention {rows[0]['convention']}"
        )
        if any(r["provider"] == SAMPLE for r in rows):
            print(SAMPLE_NOTE)
        for r in rows:
            if r["confidence_reasons"]:
                print(
                    f"{r[key]} confidence {r['confidence']}: "
                    + "; ".join(reason.split(": ", 1)[1] for reason in r["confidence_reasons"])
                )
    if not rows:
        print(empty, file=sys.stderr)
    return ExitCode.OK if rows else ExitCode.GAPS


def compute(days: list[date]) -> int:
    """The sessions on the project's instance, in order, one run per chunk of the asset's
    BackfillPolicy (what a UI backfill of the same range launches)."""
    from dagster import AssetKey, DagsterInstance

    from options_pipeline.assets.dealer_metrics import SESSIONS_PER_RUN
    from options_pipeline.definitions import defs
    from options_pipeline.loggers import CLI_CONSOLE

    key = AssetKey(DEALER_METRICS)
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    assert job is not None
    instance = DagsterInstance.get()
    worst = ExitCode.OK
    print(f"{'session':<12}{'symbols':>8}  {'run':<8}  result")
    for first in range(0, len(days), SESSIONS_PER_RUN):
        chunk = days[first : first + SESSIONS_PER_RUN]
        # one session: a partition-keyed run, as the automation launches it; more: a ranged run
        partition_key = chunk[0].isoformat() if len(chunk) == 1 else None
        range_tags = (
            {}
            if partition_key
            else {
                "dagster/asset_partition_range_start": chunk[0].isoformat(),
                "dagster/asset_partition_range_end": chunk[-1].isoformat(),
            }
        )
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=instance,
            asset_selection=[key],
            run_config={"loggers": {CLI_CONSOLE: {"config": {"log_level": "WARNING"}}}},
            tags={
                **range_tags,
                "options_pipeline/launched_by": "options-pipeline metrics compute",
                "options_pipeline/host": socket.gethostname(),
                "options_pipeline/pid": str(os.getpid()),
            },
            raise_on_error=False,
        )
        mats = {m.partition: m for m in result.asset_materializations_for_node(DEALER_METRICS)}
        failed_checks: dict[str | None, list[str]] = {}
        for e in result.get_asset_check_evaluations():
            if not e.passed:
                failed_checks.setdefault(e.partition, []).append(e.check_name)
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        user = failure.step_failure_data.user_failure_data if failure else None
        error = failure.step_failure_data.error if failure else None
        per_day: dict[str, str] = {}
        if user is not None and "failed_sessions" in user.metadata:
            per_day = dict(user.metadata["failed_sessions"].value)  # type: ignore[arg-type]
        for day in chunk:
            mat = mats.get(day.isoformat())
            if mat is not None:
                checks = failed_checks.get(day.isoformat(), [])
                note = "ok" if not checks else "checks failed: " + ", ".join(checks)
                symbols = int(mat.metadata["symbols"].value)  # type: ignore[arg-type]
                print(f"{day!s:<12}{symbols:>8}  {result.run_id[:8]}  {note}")
                continue
            if day.isoformat() in per_day:
                message, code = per_day[day.isoformat()], ExitCode.GAPS
            elif user is not None and user.description:
                message, code = user.description, ExitCode.GAPS
            else:
                lines = [x for x in (error.message if error else "run failed").splitlines() if x]
                message = lines[-1].strip() if lines else "run failed"
                code = ExitCode.RUN_FAILED
            print(f"{day!s:<12}{'-':>8}  {result.run_id[:8]}  failed: {message}")
            worst = max(worst, code)
    logging.getLogger("options_pipeline.cli").info(
        "dealer metrics computed in the Dagster instance at %s; see them with "
        "'options-pipeline metrics show %s'",
        os.environ.get("DAGSTER_HOME"),
        days[-1],
    )
    return worst
