"""Command lines: `options-pipeline` (database, watchlists) and `ingest_options` (ingestion).

Every usage or environment error is one line on stderr and exit code 2; nothing is written then.
`ingest_options` exits 0 when every requested (date, symbol) is complete, 1 when gaps remain.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn, TextIO

# Only light modules at import time: --help and usage errors answer before psycopg, numpy or
# Dagster load (each command imports what it needs when it runs).
from options_pipeline import settings
from options_pipeline.calendar import (
    MARKET_TIMEZONE,
    OutsideCalendar,
    closure_reason,
    today_in_new_york,
)
from options_pipeline.exit_codes import ExitCode
from options_pipeline.messages import first_line
from options_pipeline.provider_names import PROVIDER_NAMES, provider_name_from_env
from options_pipeline.providers.base import ProviderError
from options_pipeline.symbols import normalize_symbol

CLI_LOGGER = "options_pipeline.cli"


def partitions_start() -> date:
    from options_pipeline import partitions  # Dagster's partitions definition: not for --help

    return partitions.partitions_start()


def partition_days(start: date, end: date) -> list[date]:
    from options_pipeline import partitions

    return partitions.partition_days(start, end)


MAX_RANGE_TRADING_DAYS = 1305  # about five years; larger ranges need --confirm-large-range


class UsageError(Exception):
    """Bad input or environment: reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(ExitCode.USAGE)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None


def _parse_symbol(text: str) -> str:
    try:
        return normalize_symbol(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _contracts_hint(text: str) -> tuple[str, int]:
    """'N' (every symbol, key '*') or 'SYMBOL=N'."""
    symbol, _, count = text.rpartition("=")
    return (_parse_symbol(symbol) if symbol else "*", _positive_int(count))


def _watchlist_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 255 or not name.isprintable():
        raise argparse.ArgumentTypeError(f"invalid watchlist name {text!r}")
    return name


def prepare_database() -> str:
    """The DSN in use, with the schema applied and DAGSTER_HOME's instance config written."""
    from options_pipeline.db.connection import apply_schema, resolve_database_url
    from options_pipeline.instance import export_storage_url, write_instance_config

    partitions_start()  # every setting is checked before anything is touched
    state = settings.state_dir()
    url = resolve_database_url(state)
    apply_schema(url)
    home = settings.dagster_home()
    write_instance_config(home)
    export_storage_url(url)
    os.environ["DAGSTER_HOME"] = str(home)
    return url


def _configure_logging(level: int) -> None:
    """CLI messages go to stderr as "LEVEL message"; the library's loggers reach the console
    through the Dagster run (the instance captures them), so they are not printed twice."""
    # library chatter a CLI user cannot act on
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    warnings.filterwarnings("ignore", message=".*is currently in preview")
    library = logging.getLogger("options_pipeline")
    library.setLevel(level)
    if not any(isinstance(h, logging.NullHandler) for h in library.handlers):
        library.addHandler(logging.NullHandler())
    # dagster-postgres logs each reconnect attempt on the root logger (24-48 lines while a
    # server is down); the command's own one-line error says what happened
    root = logging.getLogger()
    # and urllib3 warns of each connect retry (with the request's query) on its own logger;
    # the transport's per-symbol lines say what matters
    pool = logging.getLogger("urllib3.connectionpool")
    for target in (root, pool):
        if not any(isinstance(f, _DropReconnectChatter) for f in target.filters):
            target.addFilter(_DropReconnectChatter())
    cli = logging.getLogger(CLI_LOGGER)
    cli.propagate = False
    if not cli.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        cli.addHandler(handler)


class _DropReconnectChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Retrying failed database connection", "Retrying ("))


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (it may be replaced, e.g. when captured)."""

    @property  # a read-only view of whatever sys.stderr is now
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


# --- help texts ------------------------------------------------------------------------------

DB_ENV = (
    "DATABASE_URL (unset: the embedded PostgreSQL under the state directory), "
    "OPTIONS_PIPELINE_HOME (state directory, default ./.options_pipeline), DAGSTER_HOME "
    "(default $OPTIONS_PIPELINE_HOME/dagster_home), DAGSTER_PG_URL (Dagster's storage)"
)
PROVIDER_ENV = (
    "OPTIONS_PIPELINE_PROVIDER, MASSIVE_API_KEY, POLYGON_API_KEY, POLYGON_BASE_URL, "
    "POLYGON_RATE_LIMIT_PER_MINUTE, POLYGON_RATE_LIMIT_WINDOW_SECONDS, "
    "POLYGON_CONNECT_TIMEOUT, POLYGON_READ_TIMEOUT, "
    "POLYGON_MAX_RETRIES, THETADATA_BASE_URL, THETADATA_CONCURRENCY, "
    "ORATS_API_TOKEN, ORATS_BASE_URL, ORATS_RATE_LIMIT_PER_MINUTE, "
    "ALPHAVANTAGE_API_KEY, ALPHAVANTAGE_BASE_URL, ALPHAVANTAGE_RATE_LIMIT_PER_MINUTE, "
    "OPTIONS_PIPELINE_FILES_DIR, OPTIONS_PIPELINE_FILES_RISK_FREE_RATE, "
    "OPTIONS_PIPELINE_FILES_DIVIDEND_YIELD, "
    "SAMPLE_CONTRACTS_PER_SYMBOL, OPTIONS_PIPELINE_START_DATE, "
    "OPTIONS_PIPELINE_LOG_REQUESTS"
)


def help_epilog(codes: str, *, provider: bool = False) -> str:
    """The footer of every --help: exit codes, environment read, the default provider."""
    env = DB_ENV + (", " + PROVIDER_ENV if provider else "")
    default = (
        f"{provider_name_from_env()} (sample unless OPTIONS_PIPELINE_PROVIDER is set; "
        f"choices: {', '.join(PROVIDER_NAMES)})"
    )

    def block(title: str, text: str) -> str:
        return f"{title}:\n" + textwrap.fill(text, 90, initial_indent="  ", subsequent_indent="  ")

    return "\n\n".join(
        (
            block("exit codes", codes),
            block("environment read", env),
            block("default provider", default),
        )
    )


PLAIN_CODES = "0 done; 2 usage or environment error (one line on stderr)"
REPORT_CODES = (
    "0 nothing missing; 1 something is missing (listed); 2 usage or environment "
    "error (one line on stderr)"
)
CHECK_CODES = (
    "0 every endpoint answered and every required field maps; 1 something does not "
    "(marked FAIL); 2 usage or environment error (one line on stderr)"
)
RUN_CODES = (
    "0 complete; 1 gaps remain (listed; re-run to retry); 2 usage or environment error "
    "(one line on stderr, nothing written); 3 a Dagster run failed unexpectedly "
    "(traceback in the run's event log)"
)
INGEST_CODES = (
    RUN_CODES + "; 4 another ingestion held the options_chains slot past --wait "
    "(nothing written); 130 / 143 stopped by Ctrl-C / SIGTERM (finished sessions "
    "stay stored)"
)


def _sub(
    verbs: Any,
    name: str,
    text: str,
    codes: str = PLAIN_CODES,
    *,
    provider: bool = False,
    description: str | None = None,
) -> _Parser:
    parser: _Parser = verbs.add_parser(
        name,
        help=text,
        description=description or text,
        epilog=help_epilog(codes, provider=provider),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


# --- options-pipeline ------------------------------------------------------------------------

OVERVIEW = """\
Option-chain history in PostgreSQL and the dealer metrics computed from it.

  options-pipeline provider check polygon       first: does the key, plan and field map work?
  options-pipeline db init                      start/prepare the database
  options-pipeline watchlist add NAME SYM...    choose the symbols to ingest
  ingest_options --start-date D --end-date E --dry-run    plan a backfill (requests, time)
  ingest_options --start-date D --end-date E    ingest sessions (one Dagster run each)
  options-pipeline gaps --start-date D --end-date E       what is missing, and why
  options-pipeline metrics compute --start-date D --end-date E   dealer metrics (in Dagster)
  options-pipeline metrics show D               one session's dealer metrics per symbol

Run `options-pipeline COMMAND --help` for each command's options."""


def _pipeline_parser() -> _Parser:
    from options_pipeline import cli_gaps, cli_metrics

    parser = _Parser(
        prog="options-pipeline",
        description=OVERVIEW,
        epilog=help_epilog(INGEST_CODES, provider=True),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="area", parser_class=_Parser, metavar="COMMAND")

    db = _sub(verbs, "db", "the PostgreSQL database").add_subparsers(
        dest="verb", required=True, parser_class=_Parser
    )
    _sub(db, "init", "start the embedded server if used, apply the schema (idempotent)")
    url = _sub(db, "url", "print the DSN in use (password masked)")
    url.add_argument("--show-password", action="store_true")
    dagster_url = _sub(
        db,
        "dagster-url",
        "print DAGSTER_PG_URL, the Dagster storage URL that "
        "dagster.yaml reads from the environment (password masked)",
        description="print DAGSTER_PG_URL for processes started outside this "
        'command, e.g. export DAGSTER_PG_URL="$(options-pipeline db dagster-url '
        '--show-password)" before `dagster dev`',
    )
    dagster_url.add_argument("--show-password", action="store_true")
    _sub(db, "stop", "stop the embedded PostgreSQL server")

    wl = _sub(verbs, "watchlist", "watchlists of symbols to ingest").add_subparsers(
        dest="verb", required=True, parser_class=_Parser
    )
    for verb, text in (
        (
            "add",
            "add symbols, active (registers their tickers); says which "
            "were added and which were already there",
        ),
        ("remove", "remove symbols"),
        ("activate", "mark symbols active"),
        ("deactivate", "mark symbols inactive"),
    ):
        sub = _sub(wl, verb, text)
        sub.add_argument("name", type=_watchlist_name, help="watchlist name")
        sub.add_argument(
            "symbols",
            nargs="+",
            type=_parse_symbol,
            metavar="SYMBOL",
            help="e.g. SPY, SPX (^SPX and I:SPX are stored as SPX)",
        )
    show = _sub(wl, "list", "list watchlists (tab-separated: watchlist, symbol, state)")
    show.add_argument("name", nargs="?", type=_watchlist_name, help="only this watchlist")

    metrics = _sub(verbs, "metrics", "dealer metrics: compute them, show them").add_subparsers(
        dest="verb", required=True, parser_class=_Parser
    )
    cli_metrics.register(
        metrics,
        sub=_sub,
        parse_date=_parse_date,
        parse_symbol=_parse_symbol,
        report_codes=REPORT_CODES,
        run_codes=RUN_CODES,
    )

    prov = _sub(verbs, "provider", "the data provider").add_subparsers(
        dest="verb", required=True, parser_class=_Parser
    )
    check = _sub(
        prov,
        "check",
        "make the smallest request to each endpoint the provider uses; "
        "print per endpoint the HTTP status or plan error, the field names the answer "
        "carries, which field-map entries matched and which are missing, and the "
        "requests used",
        CHECK_CODES,
        provider=True,
    )
    check.add_argument("name", choices=list(PROVIDER_NAMES), help="provider to check")
    check.add_argument(
        "--symbol", type=_parse_symbol, default="SPY", help="underlying to ask for (default SPY)"
    )
    check.add_argument(
        "--date",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="past session to ask for (default: the last session before today)",
    )

    cli_gaps.register(
        verbs,
        parse_date=_parse_date,
        parse_symbol=_parse_symbol,
        watchlist_name=_watchlist_name,
        epilog=help_epilog(REPORT_CODES),
    )
    from options_pipeline import cli_files

    cli_files.register(
        verbs,
        parser_class=_Parser,
        watchlist_name=_watchlist_name,
        epilog=help_epilog(
            "0 every file usable; 1 some file unreadable or "
            "conflicting (listed); 2 usage or environment error"
        ),
    )
    return parser


def _reader_may_close_stdout(main: Callable[..., int]) -> Callable[..., int]:
    """`options-pipeline ... | head` closes stdout early: stop quietly, not with a traceback."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except BrokenPipeError:
            # further writes at interpreter exit would raise again: point stdout at devnull
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return ExitCode.OK

    return wrapper


@_reader_may_close_stdout
def options_pipeline_main(argv: Sequence[str] | None = None) -> int:
    parser = _pipeline_parser()
    args = parser.parse_args(argv)
    if args.area is None:
        parser.print_help()
        return ExitCode.USAGE
    _configure_logging(logging.INFO)
    from options_pipeline.db import embedded
    from options_pipeline.db.connection import DatabaseUnavailable, mask_password
    from options_pipeline.ingest import NothingToIngest
    from options_pipeline.instance import DAGSTER_PG_URL_ENV

    try:
        if args.area == "provider":
            return _provider_check(args)
        if args.area == "db" and args.verb == "stop":
            stopped = embedded.stop(settings.state_dir())
            print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL not running")
            return ExitCode.OK
        if args.area == "files":
            from options_pipeline import cli_files

            return cli_files.run(args, database=prepare_database, usage_error=UsageError)
        url = prepare_database()
        if args.area == "db":
            if args.verb == "init":
                print(f"schema applied on {mask_password(url)}")
            else:
                shown = os.environ[DAGSTER_PG_URL_ENV] if args.verb == "dagster-url" else url
                print(shown if args.show_password else mask_password(shown))
            return ExitCode.OK
        if args.area == "metrics":
            from options_pipeline import cli_metrics

            return cli_metrics.run(url, args, usage_error=UsageError)
        if args.area == "gaps":
            from options_pipeline import cli_gaps

            return cli_gaps.run(url, args, usage_error=UsageError)
        return _watchlist(url, args)
    except (DatabaseUnavailable, UsageError, NothingToIngest, ValueError) as exc:
        print(f"options-pipeline: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE


def _provider_check(args: argparse.Namespace) -> int:
    """`provider check NAME`: needs no database; exit 0 only when every required field maps."""
    from options_pipeline.calendar import is_session
    from options_pipeline.resources import provider_resource_from_env

    today = today_in_new_york()
    if args.date is not None and (args.date >= today or not is_session(args.date)):
        raise UsageError(
            f"--date {args.date} must be a past trading session (today is {today} "
            f"in {MARKET_TIMEZONE})"
        )
    resource = provider_resource_from_env(args.name)
    # EnvVar secrets are resolved here, never printed; the client is closed on the way out
    with resource.process_config_and_initialize_cm() as resolved:
        check = getattr(resolved.client, "check", None)
        if check is None:
            raise UsageError(
                f"provider {args.name!r} has no check (offline, or not implemented for it yet)"
            )
        report = check(args.symbol, args.date)
    print(report.render())
    return ExitCode.OK if report.ok else ExitCode.GAPS


def _watchlist(url: str, args: argparse.Namespace) -> int:
    from options_pipeline.db import store
    from options_pipeline.db.connection import connection

    symbols = sorted(set(getattr(args, "symbols", None) or []))
    with connection(url) as conn:
        if args.verb == "add":
            states = store.add_to_watchlist(conn, args.name, symbols)
            for state in ("added", "reactivated", "already active"):
                chosen = [s for s in symbols if states[s] == state]
                if chosen:
                    print(f"{args.name}: {state} {' '.join(chosen)}")
        elif args.verb == "remove":
            n = store.remove_from_watchlist(conn, args.name, symbols)
            print(f"{args.name}: removed {n} symbol(s)")
        elif args.verb in ("activate", "deactivate"):
            n = store.set_watchlist_active(conn, args.name, symbols, active=args.verb == "activate")
            print(f"{args.name}: {args.verb}d {n} symbol(s)")
        else:
            entries = store.list_watchlists(conn, args.name)
            if not entries:
                print("no watchlists" if args.name is None else f"{args.name}: empty")
            for e in entries:
                print(f"{e.watchlist_id}\t{e.symbol}\t{'active' if e.active else 'inactive'}")
    return ExitCode.OK


# --- ingest_options ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestPlan:
    days: list[date]
    symbols: list[str]


def _ingest_parser() -> _Parser:
    parser = _Parser(
        prog="ingest_options",
        description="Ingest daily option-chain snapshots: one day (--as-of), a range "
        "(--start-date/--end-date: its NYSE sessions), or today. --dry-run plans the "
        "range (pairs to fetch, provider requests, wall time) without fetching.",
        epilog=help_epilog(INGEST_CODES, provider=True),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--provider", choices=sorted(PROVIDER_NAMES), default=provider_name_from_env()
    )
    parser.add_argument("--as-of", type=_parse_date, help="single NYSE session YYYY-MM-DD")
    parser.add_argument("--start-date", type=_parse_date, help="range start YYYY-MM-DD")
    parser.add_argument("--end-date", type=_parse_date, help="range end YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--heartbeat",
        type=_positive_int,
        default=25,
        help="log progress every N symbols per day (default 25)",
    )
    parser.add_argument(
        "--symbols",
        nargs="+",
        type=_parse_symbol,
        metavar="SYMBOL",
        help="a subset of the active watchlist symbols",
    )
    parser.add_argument("--watchlist", type=_watchlist_name, help="only this watchlist's symbols")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="plan: per session the pairs already complete and to fetch, the "
        "provider requests and the wall time; fetch and write nothing",
    )
    parser.add_argument(
        "--contracts-hint",
        type=_contracts_hint,
        nargs="+",
        metavar="[SYMBOL=]N",
        help="with --dry-run: contracts per chain to plan with, for every symbol "
        "(N) or one (SPX=20000) (default: each symbol's last stored chain, "
        "else 5,000)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --dry-run: the plan as one JSON document on stdout",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        metavar="SECONDS",
        help="give up (exit 4) if the options_chains slot stays held by another "
        "run this long (default: wait, with a status line every 30 s)",
    )
    parser.add_argument(
        "--confirm-large-range",
        action="store_true",
        help=f"allow ranges over {MAX_RANGE_TRADING_DAYS} trading days",
    )
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    level.add_argument("--verbose", "-v", action="store_true", help="same as --log-level DEBUG")
    level.add_argument("--quiet", "-q", action="store_true", help="same as --log-level WARNING")
    return parser


def today_in_market() -> date:
    return today_in_new_york()


def _closure(day: date) -> str | None:
    try:
        return closure_reason(day)
    except OutsideCalendar as exc:
        raise UsageError(str(exc)) from None


def resolve_days(args: argparse.Namespace, *, today: date) -> list[date]:
    """The three modes: --as-of, --start-date + --end-date, or neither (today). [] = nothing."""
    ranged = args.start_date is not None or args.end_date is not None
    if args.as_of is not None and ranged:
        raise UsageError("--as-of cannot be combined with --start-date/--end-date")
    if ranged:
        if args.start_date is None:
            raise UsageError("--end-date requires --start-date")
        if args.end_date is None:
            raise UsageError("--start-date requires --end-date")
        if args.end_date < args.start_date:
            raise UsageError(f"--end-date {args.end_date} is before --start-date {args.start_date}")
        first, last = args.start_date, args.end_date
    elif args.as_of is not None:
        if args.as_of > today:
            raise UsageError(
                f"{args.as_of} is in the future (today is {today} in {MARKET_TIMEZONE})"
            )
        closed = _closure(args.as_of)
        if closed is not None:
            raise UsageError(
                f"--as-of {args.as_of} ({args.as_of:%A}) is not an NYSE session: {closed}"
            )
        first = last = args.as_of
    else:
        if _closure(today) is not None:
            return []
        first = last = today
    if last > today:
        raise UsageError(f"{last} is in the future (today is {today} in {MARKET_TIMEZONE})")
    days = partition_days(first, last)
    if not days:
        raise UsageError(
            f"no NYSE sessions between {first} and {last} (weekends and holidays only)"
        )
    if len(days) > MAX_RANGE_TRADING_DAYS and not args.confirm_large_range:
        raise UsageError(
            f"{len(days)} trading days requested; more than "
            f"{MAX_RANGE_TRADING_DAYS} needs --confirm-large-range"
        )
    if first < partitions_start():
        raise UsageError(
            f"{first} is before the partitions' start {partitions_start()} "
            "(set OPTIONS_PIPELINE_START_DATE to go further back)"
        )
    return days


def refuse_open_session(days: list[date], *, now: datetime) -> None:
    """A chain fetched before today's close is intraday: stored under today it would pass for the
    day's final snapshot and mark the day complete, so the after-close run would skip it."""
    from options_pipeline import calendar

    today = now.date()
    if not days or days[-1] != today or not calendar.is_session(today):
        return
    close = calendar.close_time(today)
    if now < close:
        early = " (an early close)" if calendar.is_early_close(today) else ""
        raise UsageError(
            f"{today}'s session is still open until {close:%H:%M} New York time{early}; a "
            f"snapshot now would be intraday, not the day's close: run after the close, or end "
            f"at {calendar.previous_session(today)}"
        )


def _log_level(args: argparse.Namespace) -> int:
    if args.verbose:
        return logging.DEBUG
    if args.quiet:
        return logging.WARNING
    return int(getattr(logging, args.log_level or "INFO"))


@_reader_may_close_stdout
def ingest_options_main(argv: Sequence[str] | None = None) -> int:
    code = _ingest_options(argv)
    if argv is None and code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
        # stopped by a signal, as a program: everything is written and reported; skip tearing
        # down the loaded Dagster module graph, which takes seconds on a busy machine
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _ingest_options(argv: Sequence[str] | None) -> int:
    args = _ingest_parser().parse_args(argv)
    level = _log_level(args)
    _configure_logging(level)
    from options_pipeline import calendar

    now = calendar.now_in_new_york()
    today = now.date()
    try:
        days = resolve_days(args, today=today)
        refuse_open_session(days, now=now)
    except (UsageError, settings.SettingsError, calendar.OutsideCalendar) as exc:  # light path
        print(f"ingest_options: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    from dagster_postgres.utils import DagsterPostgresException
    from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

    from options_pipeline.db.connection import DatabaseUnavailable, connection, mask_password
    from options_pipeline.ingest import NothingToIngest, resolve_symbols
    from options_pipeline.resources import provider_resource_from_env
    from options_pipeline.resources.provider import LOG_REQUESTS_ENV

    try:
        if not days:
            print(f"no NYSE session on {today:%A} {today} ({closure_reason(today)}); nothing to do")
            return ExitCode.OK
        if level <= logging.DEBUG:
            os.environ[LOG_REQUESTS_ENV] = "1"  # the provider's per-request lines as well
        provider = provider_resource_from_env(args.provider)
        # configuration errors (e.g. a missing API key) surface here, before anything is written
        provider.check_settings()
        url = prepare_database()
        with connection(url) as conn:
            symbols = resolve_symbols(conn, watchlist=args.watchlist, symbols=args.symbols)
        if args.dry_run:
            from options_pipeline import cli_plan

            with provider.process_config_and_initialize_cm() as ready:
                return cli_plan.run(
                    url,
                    ready.client,
                    days,
                    symbols,
                    contracts_hint=dict(args.contracts_hint or []),
                    as_json=args.json,
                )
        if args.json or args.contracts_hint is not None:
            raise UsageError("--json and --contracts-hint go with --dry-run")
        if args.provider == "sample":
            logging.getLogger(CLI_LOGGER).info(
                "provider sample: the synthetic sample market (generated chains, not market "
                "quotes); --provider polygon for real data"
            )
        from options_pipeline.cli_runner import run_days

        return run_days(
            days,
            database_url=url,
            provider=provider,
            watchlist=args.watchlist,
            symbols=args.symbols,
            heartbeat=args.heartbeat,
            log_level=level,
            wait=args.wait,
        )
    except (UsageError, DatabaseUnavailable, NothingToIngest, ProviderError, ValueError) as exc:
        print(f"ingest_options: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except (DagsterPostgresException, SQLAlchemyOperationalError) as exc:
        # the Dagster instance's own storage went away (e.g. the server was stopped)
        first = mask_password(first_line(exc))
        print(
            f"ingest_options: error: the Dagster instance's database is unreachable: {first}; "
            "what was written is complete, a re-run resumes",
            file=sys.stderr,
        )
        return ExitCode.USAGE
