"""Issue 6 end to end through the UI's own API: `dagster dev` (webserver + daemon) on 127.0.0.1.

One stack for the module (started once, always stopped): PostgreSQL (the session server), a data
database with the watchlist `ui` (IWM QQQ SPY), Dagster's storage in its own database, and
`dagster dev` with the sample provider. POLYGON_API_KEY is set in its environment, as on a real
deployment, so the security test can look for it everywhere the UI shows.

Tests run in file order and build on each other (issue steps in brackets): the backfill [1-2], the
same backfill again right away [4], the automation it triggers [3] (meanwhile the provider-fault
CLI run starts in the background, recorded in the same instance), `dagster asset materialize` [5],
the partitions page in Chromium [6], the provider faults' results, then the API key everywhere.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import re
import shutil
import struct
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from options_pipeline.resources import PolygonProviderResource
from options_pipeline_tests.e2e.harness import (
    ARTIFACTS,
    BIN,
    CONTRACTS,
    FAKE_API_KEY,
    Bounded,
    DagsterDev,
    Finished,
    GraphQL,
    assert_consistent,
    create_database,
    dagster_dev,
    dagster_instance,
    drop_database,
    figure,
    fmt_windows,
    ingest_options,
    ledger,
    options_pipeline,
    overlapping,
    per_day_symbol,
    pipeline_environment,
    polygon_environment,
    run_bounded,
    run_partitions,
    sqlalchemy_url,
    start_ingest_options,
    step_windows,
    wait_for,
)
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer, session_served

pytestmark = pytest.mark.e2e

SYMBOLS = ["IWM", "QQQ", "SPY"]
STORAGE_PASSWORD = "e2e/p@ss:w#rd-SECRET"
DAYS = [date(2025, 12, d) for d in (15, 16, 17, 18, 19, 22)]  # the weekdays of 15..22
WINDOW_DAYS = {"2025-12-19", "2025-12-22"}  # the days whose 5-day window lies inside DAYS
CLI_RANGE = "2025-12-01...2025-12-03"
CLI_DAYS = [date(2025, 12, d) for d in (1, 2, 3)]


@dataclass
class FaultRun:
    """The provider-fault ingestion (see its test); started early, in the background."""

    srv: PolygonTestServer
    env: dict[str, str]
    data_url: str
    symbols: list[str]
    args: list[str]
    first: Bounded


@dataclass
class Stack:
    env: dict[str, str]
    dev: DagsterDev
    instance: Any
    data_url: str
    server_url: str
    template: str
    root: Path
    cleanup: contextlib.ExitStack
    backfills: dict[str, dict] = field(default_factory=dict)
    fault_run: FaultRun | None = None
    polygon_outputs: list[Finished] = field(default_factory=list)
    polygon_run_ids: list[str] = field(default_factory=list)

    @property
    def gql(self) -> GraphQL:
        return self.dev.graphql


@pytest.fixture(scope="module")
def stack(server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ui-stack")
    template = conninfo_to_dict(template_url)["dbname"]
    data_url = create_database(server_url, template=template)
    dagster_db = create_database(server_url)
    # Dagster's storage through a role with a password: the process checks look for it
    role = f"e2e_{root.name[-6:]}".replace("-", "_")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(STORAGE_PASSWORD)
            )
        )
    dagster_login = make_conninfo(dagster_db, user=role, password=STORAGE_PASSWORD)
    env = pipeline_environment(
        state=root / "state",
        database_url=data_url,
        dagster_pg_url=sqlalchemy_url(dagster_login),
        POLYGON_API_KEY=FAKE_API_KEY,
    )
    try:
        added = options_pipeline(env, "watchlist", "add", "ui", *SYMBOLS)
        assert added.returncode == 0, added.describe()
        with (
            contextlib.ExitStack() as cleanup,
            dagster_instance(env) as instance,
            dagster_dev(env, root / "dagster-dev.log") as dev,
        ):
            figure("dagster dev ready (webserver + code location)", f"{dev.wait_ready():.1f}s")
            yield Stack(
                env=env,
                dev=dev,
                instance=instance,
                data_url=data_url,
                server_url=server_url,
                template=template,
                root=root,
                cleanup=cleanup,
            )
        figure("dagster dev stopped (SIGINT to its process group)", f"{dev.stop_seconds:.1f}s")
    finally:
        drop_database(dagster_db)
        drop_database(data_url)


# --- GraphQL -----------------------------------------------------------------------------------

LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions timestamp endTimestamp
      runs(limit: 50) { runId status startTime endTime tags { key value } }
      error { message }
    }
    ... on Error { message }
  }
}"""

RUNS = """
{ runsOrError(limit: 200) { __typename ... on Runs { results {
    runId status creationTime startTime endTime assetSelection { path } tags { key value }
} } } }"""

RUN_AND_LOGS = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status runConfigYaml tags { key value } assetSelection { path } }
  }
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection { events {
      __typename
      ... on MessageEvent { message level stepKey }
      ... on DisplayableEvent { label description metadataEntries {
        label description __typename
        ... on TextMetadataEntry { text }
        ... on JsonMetadataEntry { jsonString }
        ... on MarkdownMetadataEntry { mdStr }
        ... on IntMetadataEntry { intValue }
        ... on FloatMetadataEntry { floatValue }
        ... on BoolMetadataEntry { boolValue }
        ... on PathMetadataEntry { path }
        ... on UrlMetadataEntry { url }
      } }
      ... on ErrorEvent { error { message stack className causes { message stack } } }
    } }
    ... on Error { message }
  }
}"""

PROVIDER_RESOURCE = """
{ topLevelResourceDetailsOrError(resourceSelector: {repositoryLocationName: "options_pipeline",
    repositoryName: "__repository__", resourceName: "provider"}) {
  __typename
  ... on ResourceDetails { name configuredValues { key value type } }
  ... on Error { message }
} }"""


def launch_backfill(stack: Stack, days: list[date]) -> str:
    data = stack.gql(
        LAUNCH_BACKFILL,
        p={
            "partitionNames": [d.isoformat() for d in days],
            "assetSelection": [{"path": ["options_chains"]}],
        },
    )
    result = data["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def wait_backfill(stack: Stack, backfill_id: str, timeout: float = 240) -> dict:
    def finished() -> dict | None:
        b = stack.gql(BACKFILL, id=backfill_id)["partitionBackfillOrError"]
        assert b["__typename"] == "PartitionBackfill", b
        return b if b["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    return wait_for(
        f"backfill {backfill_id}",
        finished,
        timeout=timeout,
        interval=2,
        diagnostics=stack.dev.log_tail,
    )


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def all_runs(stack: Stack) -> list[dict]:
    data = stack.gql(RUNS)["runsOrError"]
    assert data["__typename"] == "Runs", data
    return data["results"]


def run_failures(stack: Stack, runs: list[dict]) -> str:
    """The engine and failure events of `runs`, for the assertion message."""
    from dagster import DagsterEventType

    kinds = {DagsterEventType.ENGINE_EVENT, DagsterEventType.RUN_FAILURE}
    kinds |= {DagsterEventType.STEP_FAILURE}
    lines = []
    for r in runs:
        for e in stack.instance.all_logs(r["runId"]):
            if e.dagster_event_type in kinds:
                error = getattr(e.dagster_event.event_specific_data, "error", None)
                lines.append(f"{r['runId'][:8]} {e.dagster_event_type}: {e.message} {error or ''}")
    return "\n".join(lines)


def dealer_runs(stack: Stack) -> list[dict]:
    return [
        r
        for r in all_runs(stack)
        if r["assetSelection"] and {"path": ["dealer_metrics"]} in r["assetSelection"]
    ]


@dataclass(frozen=True)
class Mat:
    partition: str
    timestamp: float
    run_id: str
    metadata: dict[str, Any]


def materializations(stack: Stack, run_id: str | None = None) -> list[Mat]:
    """options_chains materializations from the instance's event log, oldest first."""
    from dagster import AssetKey

    records = stack.instance.fetch_materializations(
        AssetKey("options_chains"), limit=1000, ascending=True
    ).records
    mats = [
        Mat(
            r.asset_materialization.partition,
            r.timestamp,
            r.run_id,
            {k: v.value for k, v in r.asset_materialization.metadata.items()},
        )
        for r in records
    ]
    return [m for m in mats if run_id is None or m.run_id == run_id]


def counts(stack: Stack) -> tuple[dict, dict]:
    with psycopg.connect(stack.data_url) as conn:
        assert_consistent(conn)
        return per_day_symbol(conn), ledger(conn)


def assert_one_run_days_in_order(
    stack: Stack, backfill: dict, days: list[date], materialized: bool = True
) -> dict:
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    runs = backfill["runs"]
    assert len(runs) == 1, f"single_run backfill policy: one run for the range, got {runs}"
    run = runs[0]
    assert run["status"] == "SUCCESS", run
    tags = tags_of(run)
    assert (
        tags["dagster/asset_partition_range_start"],
        tags["dagster/asset_partition_range_end"],
    ) == (days[0].isoformat(), days[-1].isoformat())
    mats = materializations(stack, run["runId"])
    if not materialized:  # every day already complete: nothing new to record
        assert mats == [], mats
        return run
    assert [m.partition for m in mats] == [d.isoformat() for d in days], "one per day, in order"
    stamps = [m.timestamp for m in mats]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    return run


# --- [1-2] the backfill through GraphQL --------------------------------------------------------


def test_graphql_backfill_fills_every_weekday_one_day_at_a_time(stack: Stack):
    backfill_id = launch_backfill(stack, DAYS)
    backfill = wait_backfill(stack, backfill_id)
    stack.backfills["first"] = backfill
    run = assert_one_run_days_in_order(stack, backfill, DAYS)

    mats = {m.partition: m for m in materializations(stack, run["runId"])}
    for day in DAYS:
        md = mats[day.isoformat()].metadata
        assert md["complete"] is True and md["provider"] == "sample", md
        assert (
            md["symbols_ingested"],
            md["symbols_skipped"],
            md["symbols_failed"],
            md["rows_written"],
        ) == (3, 0, 0, 3 * CONTRACTS), md

    rows, book = counts(stack)
    assert rows == {(d, s): CONTRACTS for d in DAYS for s in SYMBOLS}
    assert {k: v[0] for k, v in book.items()} == rows  # ledger contract counts = rows stored

    # No two days overlapped inside the run (DB and Dagster clocks, no test timing): every
    # symbol of day D committed before D's materialization event, which precedes every commit
    # of the next day.
    for day, nxt in itertools.pairwise(DAYS):
        last_commit = max(book[(day, s)][2].timestamp() for s in SYMBOLS)
        first_next = min(book[(nxt, s)][2].timestamp() for s in SYMBOLS)
        recorded = mats[day.isoformat()].timestamp
        assert last_commit <= recorded <= first_next, (day, last_commit, recorded, first_next)

    figure(
        "backfill 1: wall time launch -> COMPLETED_SUCCESS",
        f"{backfill['endTimestamp'] - backfill['timestamp']:.1f}s",
    )
    figure("backfill 1: launch -> run start", f"{run['startTime'] - backfill['timestamp']:.1f}s")
    figure(
        "backfill 1: runs / run duration",
        f"{len(backfill['runs'])} / {run['endTime'] - run['startTime']:.1f}s",
    )
    per_day = [mats[d.isoformat()].metadata["duration_s"] for d in DAYS]
    figure("backfill 1: per-day ingest seconds", per_day)


# --- [4] the same backfill again, right away ---------------------------------------------------


def test_same_backfill_again_writes_nothing_and_skips_every_symbol(stack: Stack):
    rows_before, ledger_before = counts(stack)
    assert rows_before, "needs the first backfill"
    backfill = wait_backfill(stack, launch_backfill(stack, DAYS))
    stack.backfills["second"] = backfill
    # a UI backfill still records each requested day (else Dagster counts it as failed)
    run = assert_one_run_days_in_order(stack, backfill, DAYS)
    for m in materializations(stack, run["runId"]):
        assert (
            m.metadata["symbols_ingested"],
            m.metadata["symbols_skipped"],
            m.metadata["rows_written"],
            m.metadata["complete"],
        ) == (0, 3, 0, True), m
    rows_after, ledger_after = counts(stack)
    assert rows_after == rows_before
    assert ledger_after == ledger_before  # completed_at included: nothing rewritten
    figure(
        "backfill 2 (no-op): wall time / run duration",
        f"{backfill['endTimestamp'] - backfill['timestamp']:.1f}s / "
        f"{run['endTime'] - run['startTime']:.1f}s",
    )


# --- [3] the automation (it waits for the second backfill) -------------------------------------


def test_automation_sensor_runs_dealer_metrics_for_days_with_a_complete_window(stack: Stack):
    assert "first" in stack.backfills, "needs the first backfill"
    done_at = max(b["endTimestamp"] for b in stack.backfills.values())  # (the second's)
    # While the daemon gets round to it, the provider-fault ingestion (ingest_options, asserted
    # by its own test below) runs in the background on the same Dagster instance: dealer_metrics
    # does not use the options_chains pool, the CLI's runs do (so does the next test's).
    start_fault_run(stack)

    def settled() -> list[dict] | None:
        runs = dealer_runs(stack)
        bad = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        assert not bad, f"dealer_metrics runs failed: {bad}\n{run_failures(stack, bad)}"
        ok = set().union(*(run_partitions(tags_of(r)) for r in runs if r["status"] == "SUCCESS"))
        return runs if ok >= WINDOW_DAYS else None

    runs = wait_for(
        "dealer_metrics for 2025-12-19 and 2025-12-22",
        settled,
        timeout=210,
        interval=3,
        diagnostics=stack.dev.log_tail,
    )
    partitions = sorted(p for r in runs for p in run_partitions(tags_of(r)))
    assert set(partitions) == WINDOW_DAYS, f"only days with a complete window: {partitions}"
    # (the no-op second backfill re-recorded every day: at most another round of these)
    assert {tags_of(r).get("dagster/sensor_name") for r in runs} == {"options_automation"}
    # each session is its own materialization with its own metadata, ranged run or not
    from dagster import AssetKey

    records = stack.instance.fetch_materializations(AssetKey("dealer_metrics"), limit=100).records
    latest = {r.asset_materialization.partition: r.asset_materialization for r in records}
    assert set(latest) >= WINDOW_DAYS
    for day in WINDOW_DAYS:
        assert latest[day].metadata["symbols"].value == len(SYMBOLS)
        assert all(f"| {s} |" in latest[day].metadata["summary"].value for s in SYMBOLS)

    with psycopg.connect(stack.data_url) as conn:
        stored = conn.execute("""SELECT m.as_of, t.symbol, m.days_present, m.window_days
            FROM dealer_metrics m JOIN tickers t ON t.id = m.ticker_id""").fetchall()
    assert {(d.isoformat(), s): (n, w) for d, s, n, w in stored} == {
        (d, s): (5, 5) for d in WINDOW_DAYS for s in SYMBOLS
    }

    first = min(r["creationTime"] for r in runs)
    last = max(r["endTime"] or 0 for r in runs)
    figure(
        "automation: last backfill end -> first dealer_metrics run created",
        f"{first - done_at:.1f}s",
    )
    figure(
        "automation: last backfill end -> both dealer_metrics runs done", f"{last - done_at:.1f}s"
    )
    figure(
        "automation: dealer_metrics runs so far (partition, status, seconds)",
        [
            (
                sorted(run_partitions(tags_of(r))),
                r["status"],
                round((r["endTime"] or 0) - (r["startTime"] or 0), 1),
            )
            for r in runs
        ],
    )


# --- [5] dagster asset materialize -------------------------------------------------------------


def test_dagster_cli_partition_range_fills_then_reruns_as_a_no_op(stack: Stack):
    argv = [
        BIN / "dagster",
        "asset",
        "materialize",
        "-m",
        "options_pipeline.definitions",
        "--select",
        "options_chains",
        "--partition-range",
        CLI_RANGE,
    ]
    first = run_bounded(argv, env=stack.env, timeout=240)
    assert first.returncode == 0, first.describe()
    rows, book = counts(stack)
    assert {k: v for k, v in rows.items() if k[0] in CLI_DAYS} == {
        (d, s): CONTRACTS for d in CLI_DAYS for s in SYMBOLS
    }

    again = run_bounded(argv, env=stack.env, timeout=240)
    assert again.returncode == 0, again.describe()
    assert counts(stack) == (rows, book)
    latest = {m.partition: m for m in materializations(stack)}  # the last one per day wins
    kept = {latest[d.isoformat()].run_id for d in CLI_DAYS}
    assert len(kept) == 1, "one run for the range, the first: the rerun recorded nothing new"
    for d in CLI_DAYS:
        md = latest[d.isoformat()].metadata
        assert (md["symbols_ingested"], md["symbols_skipped"], md["rows_written"]) == (
            3,
            0,
            3 * CONTRACTS,
        )

    # Every options_chains execution in the instance so far (two UI backfills, two CLI runs, and
    # the provider-fault CLI's days that ran alongside): their step windows, from the event log,
    # never overlap (pool "options_chains", limit 1); a step still running ends at +inf.
    windows = step_windows(stack.instance)
    assert len(windows) >= 4, fmt_windows(windows)
    assert overlapping(windows) == [], fmt_windows(windows)
    # dealer_metrics was never requested for a day without a complete window
    assert set().union(*(run_partitions(tags_of(r)) for r in dealer_runs(stack))) <= WINDOW_DAYS
    figure(
        "dagster asset materialize 3 days: first / rerun",
        f"{first.seconds:.1f}s / {again.seconds:.1f}s",
    )
    figure("options_chains step windows (all runs)", fmt_windows(windows))


# --- [6] the UI in a real browser --------------------------------------------------------------


def visible_text(dom: str) -> str:
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def chromium(stack: Stack, url: str, *, screenshot: Path | None, user_dir: Path) -> str:
    """Headless Chromium on `url`; returns the rendered DOM (and writes the screenshot)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "chromium is not installed: the e2e suite needs Debian's `chromium` "
            "(apt-get install -y chromium; .ci/run installs it)"
        )
    argv = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_dir}",
        "--dump-dom",
        "--window-size=1400,900",
        "--virtual-time-budget=15000",
    ]
    if screenshot is not None:
        argv.append(f"--screenshot={screenshot}")
    result = run_bounded([*argv, url], env=stack.env, timeout=120)
    assert result.returncode == 0, result.describe()
    return result.stdout


def test_partitions_page_renders_the_asset_in_headless_chromium(stack: Stack):
    # The first visit from a 127.0.0.1 origin opens Dagster's "Join the community" dialog over
    # the page; this is what its "Skip" button sends.
    assert stack.gql("mutation { setNuxSeen }")["setNuxSeen"] is True
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "options_chains_partitions.png"
    png.unlink(missing_ok=True)
    days = quote(f"[{DAYS[0]}...{DAYS[-1]}]")
    url = (
        f"{stack.dev.base}/assets/options_chains?view=partitions&default_range={days}"
        f"&partition={DAYS[-1]}"
    )
    dom = chromium(stack, url, screenshot=png, user_dir=stack.root / "chromium")
    (ARTIFACTS / "options_chains_partitions.html").write_text(dom)

    assert png_size(png) == (1400, 900) and png.stat().st_size > 20_000
    text = visible_text(dom)
    assert "options_chains" in text and "Partitions" in text, text[:2000]
    assert "Materialized (6)" in text and "Missing (0)" in text, text[:2000]
    assert all(d.isoformat() in text for d in DAYS), text[:2000]
    assert "Error" not in text and "went wrong" not in text, text[:2000]
    figure("screenshot", png)


# --- provider faults through ingest_options, recorded in the same instance --------------------

FAULT_DAYS = [date(2025, 11, 3), date(2025, 11, 4)]  # no dealer_metrics window is complete here
# attempts the provider makes before it gives up on a request (its retry budget + 1)
ATTEMPTS = PolygonProviderResource.model_fields["max_retries"].default + 1
READ_TIMEOUT = PolygonProviderResource.model_fields["read_timeout"].default
FAULTS = {  # symbol -> (fault on the first day's first endpoint, reason in the report)
    "QQQ": (Fault.rate_limited(ATTEMPTS, retry_after=0.05), "rate_limited: rate limited on"),
    "IWM": (Fault.server_error(ATTEMPTS, status=503), "provider_error: server error 503"),
    "MSFT": (Fault.malformed_json(times=1), "provider_error: malformed JSON"),
    "NVDA": (Fault.truncated(times=ATTEMPTS), "provider_error: truncated response body"),
    "TSLA": (Fault("repeat_cursor", times=2), "provider_error: pagination cursor repeated"),
}
HEALTHY = ["AAPL", "SPY"]  # AAPL: one read timeout on the first day, then answered


def report_lines(out: str) -> dict[str, list[str]]:
    """The CLI report: {date or 'total': [ingested, skipped, failed, rows, ...]}."""
    return {
        parts[0]: parts[1:]
        for line in out.splitlines()
        if not line.startswith(" ")
        and (parts := line.split())
        and re.fullmatch(r"\d{4}-\d\d-\d\d|total", parts[0])
    }


def start_fault_run(stack: Stack) -> FaultRun:
    """Start the provider-fault ingestion in the background (once): its own data database, the
    stack's Dagster instance (so the UI shows its runs), the local Polygon server with faults."""
    if stack.fault_run is not None:
        return stack.fault_run
    symbols = sorted([*FAULTS, *HEALTHY])
    data_url = create_database(stack.server_url, template=stack.template)
    stack.cleanup.callback(drop_database, data_url)
    srv = stack.cleanup.enter_context(
        PolygonTestServer(
            api_key=FAKE_API_KEY,
            today=max(date.today(), date(2026, 1, 5)),
            contracts_per_symbol=CONTRACTS,
            history_limit_cap=5000,
        )
    )
    env = polygon_environment(
        pipeline_environment(
            state=stack.root / "faults",
            database_url=data_url,
            dagster_pg_url=stack.env["DAGSTER_PG_URL"],
        ),
        srv.base_url,
    )
    added = options_pipeline(env, "watchlist", "add", "faults", *symbols)
    assert added.returncode == 0, added.describe()
    for symbol, (fault, _) in FAULTS.items():
        srv.add_fault(fault, symbol=symbol, endpoint="open_interest")
    srv.add_fault(Fault.slow(READ_TIMEOUT + 1, times=1), symbol="AAPL", endpoint="open_interest")
    args = [
        "--provider",
        "polygon",
        "--start-date",
        FAULT_DAYS[0].isoformat(),
        "--end-date",
        FAULT_DAYS[-1].isoformat(),
    ]
    proc = start_ingest_options(env, *args, timeout=300)
    proc.detached = True  # outlives the test that starts it; the stack's cleanup reaps it
    stack.cleanup.callback(proc.abandon)
    stack.fault_run = FaultRun(srv, env, data_url, symbols, args, proc)
    return stack.fault_run


def test_provider_faults_are_recorded_per_symbol_and_a_rerun_fills_them(stack: Stack):
    run = start_fault_run(stack)  # (normally already started, during the automation test)
    srv, env, data_url, symbols, args = run.srv, run.env, run.data_url, run.symbols, run.args
    first = run.first.finish()
    stack.polygon_outputs.append(first)
    assert first.returncode == 1, first.describe()  # gaps remain
    report = report_lines(first.stdout)
    d1, d2 = (d.isoformat() for d in FAULT_DAYS)
    assert report[d1][:3] == ["2", "0", "5"], first.stdout  # ingested skipped failed
    assert report[d2][:3] == ["7", "0", "0"], first.stdout  # the range went on
    assert f"gaps remain ({len(FAULTS)})" in first.stdout, first.stdout
    for symbol, (_, reason) in FAULTS.items():
        assert f"{d1} {symbol} ({reason}" in first.stdout, (symbol, first.stdout)
    assert "read timeout" in first.stderr, first.stderr  # AAPL's, retried
    with psycopg.connect(data_url) as conn:
        assert_consistent(conn)
        done = set(ledger(conn))
    assert done == {(FAULT_DAYS[0], s) for s in HEALTHY} | {(FAULT_DAYS[1], s) for s in symbols}
    first_requests = srv.requests
    assert sorted(
        (r.endpoint, r.symbol, session_served(r))
        for r in first_requests
        if session_served(r) == FAULT_DAYS[1]
    ) == sorted((e, s, FAULT_DAYS[1]) for s in symbols for e in ("analytics", "open_interest"))

    day1 = next(m for m in reversed(materializations(stack)) if m.partition == d1)
    md = day1.metadata
    assert md["complete"] is False and md["symbols_failed"] == len(FAULTS), md
    assert set(md["failed"]) == set(FAULTS), md["failed"]

    srv.clear_faults()
    again = ingest_options(env, *args, timeout=300)
    stack.polygon_outputs.append(again)
    assert again.returncode == 0, again.describe()
    report = report_lines(again.stdout)
    assert report[d1][:3] == ["5", "2", "0"] and report[d2][:3] == ["0", "7", "0"], again.stdout
    refetched = [
        (r.endpoint, r.symbol, session_served(r)) for r in srv.requests[len(first_requests) :]
    ]
    assert sorted(refetched) == sorted(
        (e, s, FAULT_DAYS[0]) for s in FAULTS for e in ("open_interest", "analytics")
    ), refetched
    with psycopg.connect(data_url) as conn:
        assert_consistent(conn)
        assert per_day_symbol(conn) == {(d, s): CONTRACTS for d in FAULT_DAYS for s in symbols}
    stack.polygon_run_ids = [
        r.run_id
        for r in stack.instance.get_runs()
        if r.tags.get("options_pipeline/launched_by") == "ingest_options"
    ]
    # one run per day, then one for the day with gaps: the complete day launches no run
    assert len(stack.polygon_run_ids) == 3
    assert not any(r.key_in_url for r in srv.requests)
    assert {r.auth for r in srv.requests} == {"bearer"}
    assert all(r.authorized for r in srv.requests)  # the key was really used
    figure(
        "provider faults: first run / rerun",
        f"exit {first.returncode} in {first.seconds:.1f}s / exit {again.returncode} in "
        f"{again.seconds:.1f}s",
    )
    figure(
        "provider faults: requests first run / rerun", f"{len(first_requests)} / {len(refetched)}"
    )


# --- security ----------------------------------------------------------------------------------


def test_api_key_never_reaches_output_event_log_run_records_or_the_ui(stack: Stack):
    from dagster._serdes import serialize_value

    key = FAKE_API_KEY
    assert stack.polygon_outputs and stack.polygon_run_ids, "needs the provider-fault runs"
    for out in stack.polygon_outputs:  # CLI stdout/stderr, warnings and errors included
        assert key not in out.stdout and key not in out.stderr

    runs = stack.instance.get_runs()
    assert len(runs) >= len(stack.polygon_run_ids) + 4
    events = 0
    for run in runs:  # run config, tags, and the whole event log of every run
        assert key not in serialize_value(run), run.run_id
        for event in stack.instance.all_logs(run.run_id):
            events += 1
            assert key not in serialize_value(event), (run.run_id, event.message)

    responses = []
    for run in runs:  # what the UI fetches for each run's page
        resp = stack.gql.raw(RUN_AND_LOGS, runId=run.run_id)
        assert resp.ok and '"EventConnection"' in resp.text, resp.text[:500]
        responses.append(resp.text)
    resource = stack.gql.raw(PROVIDER_RESOURCE)
    responses.append(resource.text)
    values = {
        v["key"]: v
        for v in resource.json()["data"]["topLevelResourceDetailsOrError"]["configuredValues"]
    }
    # the UI's provider is the sample resource (OPTIONS_PIPELINE_PROVIDER); a key-bearing
    # resource would show its key only as a reference (unit: test_resources)
    assert "contracts_per_symbol" in values
    assert all(v["type"] == "ENV_VAR" for k, v in values.items() if "key" in k)
    responses.append(stack.gql.raw(RUNS).text)
    for text in responses:
        assert key not in text
    # (the provider's error messages did reach the UI: the key had its chances to leak)
    assert any("server error 503" in text for text in responses)

    # the run page of a polygon run with failed symbols, rendered by the browser
    failed_run = stack.polygon_run_ids[-1]  # (newest first) the first run's first day
    dom = chromium(
        stack,
        f"{stack.dev.base}/runs/{failed_run}",
        screenshot=None,
        user_dir=stack.root / "chromium-run",
    )
    assert failed_run[:8] in visible_text(dom) and key not in dom

    # the command lines of every process (dagster dev passes --instance-ref to its children)
    secrets = (key, STORAGE_PASSWORD, quote(STORAGE_PASSWORD, safe=""))
    argvs = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argvs.append(cmdline.read_bytes().decode(errors="replace"))
    assert any("--instance-ref" in argv for argv in argvs), "dagster dev's children not found"
    for argv in argvs:
        assert not any(s in argv for s in secrets), argv[:300]

    # logs and files: the webserver/daemon log; both DAGSTER_HOMEs (dagster.yaml, compute logs)
    assert key not in stack.dev.log_path.read_text(errors="replace")
    assert stack.fault_run is not None
    for home in (stack.env["DAGSTER_HOME"], stack.fault_run.env["DAGSTER_HOME"]):
        for path in Path(home).rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                assert not any(s in text for s in secrets), path
    figure(
        "security: runs / events / GraphQL responses checked",
        f"{len(runs)} / {events} / {len(responses)}",
    )


# --- sessions: a UI backfill over Christmas and New Year, then the sensor's dealer metrics ------

XMAS_START, XMAS_END = date(2025, 12, 15), date(2026, 1, 9)


def test_backfill_over_christmas_completes_and_the_sensor_computes_every_session(stack: Stack):
    from options_pipeline.partitions import partition_days

    sessions = partition_days(XMAS_START, XMAS_END)  # what the UI's range selection sends
    # NYSE's published calendar: closed 2025-12-25 and 2026-01-01, so 18 sessions
    assert len(sessions) == 18
    assert date(2025, 12, 25) not in sessions and date(2026, 1, 1) not in sessions
    backfill = wait_backfill(stack, launch_backfill(stack, sessions), timeout=300)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill  # was FAILED over a holiday
    rows, _ = counts(stack)
    assert {d for d, _ in rows if XMAS_START <= d <= XMAS_END} == set(sessions)

    # every session whose 5-session window lies in the range: 12-19 onwards
    expected = {d.isoformat() for d in sessions if d >= date(2025, 12, 19)}

    def computed() -> set[str] | None:
        runs = dealer_runs(stack)
        bad = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        assert not bad, f"dealer_metrics runs failed: {bad}\n{run_failures(stack, bad)}"
        ok = set().union(*(run_partitions(tags_of(r)) for r in runs if r["status"] == "SUCCESS"))
        return ok if ok >= expected else None

    wait_for(
        "dealer_metrics for every session 2025-12-19..2026-01-09",
        computed,
        timeout=480,
        interval=5,
        diagnostics=stack.dev.log_tail,
    )
    with psycopg.connect(stack.data_url) as conn:
        stored = conn.execute(
            """SELECT m.as_of, t.symbol, m.days_present,
                   m.document->'window'->'confidence_reasons'->>0
            FROM dealer_metrics m JOIN tickers t ON t.id = m.ticker_id
            WHERE m.as_of BETWEEN %s AND %s""",
            (XMAS_START, XMAS_END),
        ).fetchall()
    assert {(d.isoformat(), s): (n, c) for d, s, n, c in stored} == {
        (d, s): (5, "high: presence: 5/5 sessions valid") for d in expected for s in SYMBOLS
    }

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    span = quote(f"[{XMAS_START}...{XMAS_END}]")
    for asset in ("options_chains", "dealer_metrics"):
        png = ARTIFACTS / f"christmas_backfill_{asset}.png"
        png.unlink(missing_ok=True)
        dom = chromium(
            stack,
            f"{stack.dev.base}/assets/{asset}?view=partitions&default_range={span}",
            screenshot=png,
            user_dir=stack.root / f"chromium-{asset}",
        )
        assert png_size(png) == (1400, 900)
        text = visible_text(dom)
        assert "Failed (0)" in text or "Failed" not in text, text[:2000]
        figure(f"screenshot christmas backfill {asset}", png)
    png = ARTIFACTS / "christmas_backfill_run.png"
    chromium(
        stack,
        f"{stack.dev.base}/runs/b/{backfill['id']}",
        screenshot=png,
        user_dir=stack.root / "chromium-backfill",
    )
    figure(
        "christmas backfill: wall time / status",
        f"{backfill['endTimestamp'] - backfill['timestamp']:.1f}s / {backfill['status']}",
    )
