"""`options-pipeline files scan DIR`: what a directory of chain files holds, before ingesting.

Lists the (session, symbol) pairs the directory covers (DataShop EOD files and CBOE quote tables),
the files that cannot be used and why, the pairs two files claim at once, and what a backfill of
the watchlist would add (pairs not yet complete in the database). Writes no chain data.
Exit 0 when every file is usable, 1 when some file is unreadable or conflicting, 2 on bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from options_pipeline.exit_codes import ExitCode
from options_pipeline.provider_names import FILES_DIR_ENV as DIR_ENV

if TYPE_CHECKING:  # imported when the command runs, not for --help
    import psycopg

    from options_pipeline.providers.files import ScanReport

_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)


def register(
    verbs: argparse._SubParsersAction[_Parser],
    *,
    parser_class: type[_Parser],
    watchlist_name: Callable[[str], str],
    epilog: str,
) -> None:
    files = verbs.add_parser(
        "files",
        help="directories of option-chain files (DataShop EOD, CBOE quote tables)",
        description="Directories the files provider reads (set OPTIONS_PIPELINE_FILES_DIR and "
        "ingest with --provider files).",
    )
    sub = files.add_subparsers(dest="verb", required=True, parser_class=parser_class)
    scan = sub.add_parser(
        "scan",
        help="sessions and symbols covered, unreadable files, what a backfill would add",
        description="Read the directory's files (nothing is written): the (session, symbol) "
        "pairs covered, unreadable files and why, conflicting files, and the pairs "
        "a backfill of the watchlist would add.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument(
        "directory",
        type=Path,
        metavar="DIR",
        help=f"the directory (the files provider reads {DIR_ENV})",
    )
    scan.add_argument(
        "--watchlist",
        type=watchlist_name,
        help="compare with this watchlist's active symbols (default: every one)",
    )


def run(
    args: argparse.Namespace,
    *,
    database: Callable[[], str],
    usage_error: Callable[[str], Exception],
) -> int:
    directory: Path = args.directory.expanduser()
    if not directory.is_dir():
        raise usage_error(f"{directory} is not a directory")
    from options_pipeline.db.connection import DatabaseUnavailable, connection
    from options_pipeline.ingest import NothingToIngest, resolve_symbols
    from options_pipeline.providers.files import scan_directory

    report = scan_directory(directory)
    _print_coverage(report)
    try:
        url = database()
        with connection(url) as conn:
            symbols = resolve_symbols(conn, watchlist=args.watchlist, symbols=None)
            _print_backfill(conn, report, symbols)
    except (DatabaseUnavailable, NothingToIngest) as exc:
        print(f"backfill: cannot tell ({exc})")
    return ExitCode.GAPS if report.unreadable or report.conflicts else ExitCode.OK


def _print_coverage(report: ScanReport) -> None:
    files = {f for labels in report.coverage.values() for f in labels}
    print(f"{report.directory}: {len(files)} usable file(s), {len(report.unreadable)} unreadable")
    if report.coverage:
        sessions = report.sessions
        print(
            f"sessions: {len(sessions)} ({sessions[0]}..{sessions[-1]}); symbols: "
            f"{len(report.symbols)} ({' '.join(report.symbols)})"
        )
        print(f"{'session':<12}{'symbol':<8}file")
        for (day, symbol), labels in report.coverage.items():
            print(f"{day.isoformat():<12}{symbol:<8}{', '.join(_short(x) for x in labels)}")
    if report.unreadable:
        print(f"unreadable ({len(report.unreadable)}):")
        for u in report.unreadable:
            print(f"  {_short(u.label)}: {u.reason}")
    if report.conflicts:
        print(
            f"conflicts ({len(report.conflicts)}): a backfill fails these pairs until one "
            "file is removed"
        )
        for (day, symbol), labels in report.conflicts.items():
            print(f"  {day} {symbol}: {' and '.join(_short(x) for x in labels)}")


def _short(label: str) -> str:
    return label.replace(str(Path.cwd()) + "/", "", 1)


def _print_backfill(conn: psycopg.Connection, report: ScanReport, symbols: list[str]) -> None:
    from options_pipeline.db import store
    from options_pipeline.partitions import partitions_start

    wanted = set(symbols)
    start = partitions_start()
    ids = store.ticker_ids(conn, symbols)
    add: list[tuple[date, str]] = []
    stored = early = 0
    complete_by_day: dict[date, set[UUID]] = {}
    for day, symbol in report.coverage:
        if symbol not in wanted or (day, symbol) in report.conflicts:
            continue
        if day < start:
            early += 1
            continue
        if day not in complete_by_day:
            complete_by_day[day] = store.completed_ticker_ids(conn, day)
        if ids.get(symbol) in complete_by_day[day]:
            stored += 1
        else:
            add.append((day, symbol))
    print(
        f"backfill of the watchlist would add {len(add)} snapshot(s); {stored} already "
        "stored (nothing was written by this scan)"
    )
    for day, symbol in add:
        print(f"  {day} {symbol}")
    if early:
        print(
            f"  {early} pair(s) before the partitions' start {start} (set "
            "OPTIONS_PIPELINE_START_DATE to include them)"
        )
    missing = sorted(wanted - set(report.symbols))
    if missing:
        print(f"watchlist symbols in no file: {' '.join(missing)}")
    if add:
        days = sorted({d for d, _ in add})
        print(
            f"to ingest: {DIR_ENV}={report.directory} ingest_options --provider files "
            f"--start-date {days[0]} --end-date {days[-1]}"
        )
