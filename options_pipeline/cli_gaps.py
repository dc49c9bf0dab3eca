"""`options-pipeline gaps`: every (session, symbol) in a range without a completed snapshot.

Reads the completion ledger and the last recorded failure of each pair
(public.option_chain_attempts); fetches nothing. Exit 0 when there is no gap, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, date
from typing import TYPE_CHECKING, Any, TypeVar

from options_pipeline.calendar import sessions_in_range
from options_pipeline.exit_codes import ExitCode

if TYPE_CHECKING:  # imported when the command runs, not for --help
    from options_pipeline.db import store

NEVER_TRIED = "never attempted"

_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)


def add_range_arguments(parser: argparse.ArgumentParser, parse_date: Callable[[str], date]) -> None:
    parser.add_argument(
        "--start-date",
        type=parse_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="first session (inclusive)",
    )
    parser.add_argument(
        "--end-date",
        type=parse_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="last session (inclusive)",
    )


def register(
    verbs: argparse._SubParsersAction[_Parser],
    *,
    parse_date: Callable[[str], date],
    parse_symbol: Callable[[str], str],
    watchlist_name: Callable[[str], str],
    epilog: str,
) -> None:
    gaps = verbs.add_parser(
        "gaps",
        help="(session, symbol) pairs without a completed snapshot, with the last reason",
        description="List every (session, symbol) in the range that has no completed snapshot, "
        "with the last recorded failure reason and when it was last tried. Reads "
        "the database only; nothing is fetched.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_range_arguments(gaps, parse_date)
    gaps.add_argument(
        "--watchlist",
        type=watchlist_name,
        help="only this watchlist's active symbols (default: every watchlist)",
    )
    gaps.add_argument(
        "--symbols",
        nargs="+",
        type=parse_symbol,
        metavar="SYMBOL",
        help="a subset of the active symbols",
    )
    gaps.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(url: str, args: argparse.Namespace, *, usage_error: Callable[[str], Exception]) -> int:
    if args.end_date < args.start_date:
        raise usage_error(f"--end-date {args.end_date} is before --start-date {args.start_date}")
    days = sessions_in_range(args.start_date, args.end_date)
    if not days:
        raise usage_error(f"no sessions between {args.start_date} and {args.end_date}")
    from options_pipeline.db import store
    from options_pipeline.db.connection import connection
    from options_pipeline.ingest import resolve_symbols

    with connection(url) as conn:
        symbols = resolve_symbols(conn, watchlist=args.watchlist, symbols=args.symbols)
        found = store.gaps(conn, days, symbols)
    if args.json:
        print(
            json.dumps(
                gaps_document(args.start_date, args.end_date, days, symbols, found), indent=2
            )
        )
    else:
        print_gaps(args.start_date, args.end_date, days, symbols, found)
    return ExitCode.GAPS if found else ExitCode.OK


def gaps_document(
    start: date, end: date, days: list[date], symbols: list[str], found: list[store.Gap]
) -> dict[str, Any]:
    """The stable --json shape (keys never renamed; new keys may be added)."""
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "sessions": len(days),
        "symbols": symbols,
        "pairs": len(days) * len(symbols),
        "gap_count": len(found),
        "gaps": [
            {
                "session": g.as_of.isoformat(),
                "symbol": g.symbol,
                "reason": g.reason,
                "message": g.message,
                "provider": g.provider,
                "failures": g.failures,
                "last_tried": g.last_failed_at.astimezone(UTC).isoformat()
                if g.last_failed_at
                else None,
            }
            for g in found
        ],
    }


def print_gaps(
    start: date, end: date, days: list[date], symbols: list[str], found: list[store.Gap]
) -> None:
    scope = f"{len(days)} session(s) × {len(symbols)} symbol(s), {start}..{end}"
    if not found:
        print(f"no gaps: {scope}, every pair has a completed snapshot")
        return
    print(f"{'session':<12}{'symbol':<8}{'tries':>5}  {'last tried (UTC)':<18}  reason")
    for g in found:
        tried = (
            g.last_failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if g.last_failed_at else "-"
        )
        reason = f"{g.reason}: {g.message}" if g.reason else NEVER_TRIED
        print(f"{g.as_of!s:<12}{g.symbol:<8}{g.failures:>5}  {tried:<18}  {reason}")
    print(f"{len(found)} gap(s) in {scope}; re-run ingest_options for the range to retry them")
