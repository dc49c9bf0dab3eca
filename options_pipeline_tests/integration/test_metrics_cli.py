"""`options-pipeline metrics compute | show | history` on a real PostgreSQL and the project's
Dagster instance (the runs land where the UI reads them)."""

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from functools import partial

import pytest
from dagster import DagsterInstance, RunsFilter

from options_pipeline.metrics.summary import CSV_COLUMNS
from options_pipeline_tests.cli_helpers import options_pipeline
from options_pipeline_tests.conftest import cloned_database, fill_sample, filled_template

WEEK = [date(2025, 12, d) for d in (15, 16, 17, 18, 19, 22)]


@pytest.fixture(scope="module")
def filled_week(server_url: str, template_url: str) -> Iterator[str]:
    """SPY and QQQ from the sample market for WEEK, filled once per module, cloned per test."""
    with filled_template(server_url, partial(fill_sample, days=WEEK)) as name:
        yield name


@pytest.fixture
def database_url(server_url: str, filled_week: str) -> Iterator[str]:
    with cloned_database(server_url, filled_week) as url:
        yield url


@pytest.fixture
def filled(pipeline_env):
    return pipeline_env


def test_compute_runs_in_the_project_instance_then_show_and_history_read_them(filled, db, capsys):
    result = options_pipeline(
        capsys, "metrics", "compute", "--start-date", "2025-12-19", "--end-date", "2025-12-22"
    )
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0].split() == ["session", "symbols", "run", "result"]
    assert [line.split()[:2] + line.split()[3:] for line in lines[1:]] == [
        ["2025-12-19", "2", "ok"],
        ["2025-12-22", "2", "ok"],
    ]
    # the runs are in the instance DAGSTER_HOME points at: the one the UI reads
    with DagsterInstance.from_config(str(filled / "dagster_home")) as instance:
        runs = instance.get_runs(
            RunsFilter(tags={"options_pipeline/launched_by": "options-pipeline metrics compute"})
        )
        # one run for the range (the asset's BackfillPolicy), each session its own partition
        assert [
            (
                r.tags["dagster/asset_partition_range_start"],
                r.tags["dagster/asset_partition_range_end"],
            )
            for r in runs
        ] == [("2025-12-19", "2025-12-22")]
    assert db.execute("SELECT count(*) FROM dealer_metrics").fetchone()[0] == 4

    shown = options_pipeline(capsys, "metrics", "show", "2025-12-22", "--json")
    assert shown.code == 0
    doc = json.loads(shown.out)
    assert doc["session"] == "2025-12-22" and doc["units"] == "USD per 1% move"
    assert [r["symbol"] for r in doc["rows"]] == ["QQQ", "SPY"]
    stored = dict(
        db.execute(
            "SELECT t.symbol, m.document FROM dealer_metrics m "
            "JOIN tickers t ON t.id = m.ticker_id WHERE m.as_of = '2025-12-22'"
        ).fetchall()
    )
    for row in doc["rows"]:
        d = stored[row["symbol"]]
        # independent recomputation from the stored numbers
        assert row["net_total_ratio"] == pytest.approx(d["gex_net"] / d["gex_total"])
        assert row["flip_distance_pct"] == pytest.approx(100 * (d["flip"] / d["spot"] - 1))
        assert [w["strike"] for w in row["call_walls"]] == [w["strike"] for w in d["call_walls"]]
        assert all(
            w["side"] == ("above" if w["strike"] > d["spot"] else "below")
            for w in row["call_walls"] + row["put_walls"]
        )
        assert row["confidence_reasons"][0] == "high: presence: 5/5 sessions valid"
        assert len(row["confidence_reasons"]) == 3
        assert row["confidence"] == min(
            (r.split(":")[0] for r in row["confidence_reasons"]),
            key=["low", "medium", "high"].index,
        )

    table = options_pipeline(capsys, "metrics", "show", "2025-12-22", "--symbol", "SPY")
    assert table.code == 0
    head, spy = table.out.splitlines()[:2]
    assert head.split()[:4] == ["symbol", "spot", "net", "GEX"]
    assert spy.split()[0] == "SPY" and spy.split()[-3] == "FULL"
    assert f"{doc['rows'][1]['spot']:,.2f}" in spy

    as_csv = options_pipeline(
        capsys,
        "metrics",
        "history",
        "SPY",
        "--start-date",
        "2025-12-15",
        "--end-date",
        "2025-12-22",
        "--csv",
    )
    assert as_csv.code == 0
    records = list(csv.reader(io.StringIO(as_csv.out)))
    assert tuple(records[0]) == CSV_COLUMNS
    assert [r[0] for r in records[1:]] == ["2025-12-19", "2025-12-22"]
    assert float(records[2][CSV_COLUMNS.index("spot")]) == doc["rows"][1]["spot"]

    history = options_pipeline(
        capsys,
        "metrics",
        "history",
        "SPY",
        "--start-date",
        "2025-12-15",
        "--end-date",
        "2025-12-22",
    )
    assert [line.split()[0] for line in history.out.splitlines()[1:3]] == [
        "2025-12-19",
        "2025-12-22",
    ]


def test_a_session_without_its_own_snapshot_fails_that_session_only(filled, db, capsys):
    db.execute("DELETE FROM option_chain_snapshots WHERE as_of = '2025-12-19'")
    result = options_pipeline(
        capsys, "metrics", "compute", "--start-date", "2025-12-19", "--end-date", "2025-12-22"
    )
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert (
        lines[1].startswith("2025-12-19")
        and "failed: no options_chains snapshot for 2025-12-19 for any active symbol" in lines[1]
    )
    assert lines[2].split()[-1] == "ok"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "2025-12-18"], 1, "no dealer metrics stored for 2025-12-18"),
        (
            ["history", "SPY", "--start-date", "2025-12-15", "--end-date", "2025-12-16"],
            1,
            "no dealer metrics stored for SPY in 2025-12-15..2025-12-16",
        ),
        (
            ["compute", "--start-date", "2025-12-22", "--end-date", "2025-12-19"],
            2,
            "is before --start-date",
        ),
        (["compute", "--start-date", "2025-12-25", "--end-date", "2025-12-25"], 2, "no sessions"),
        (["show", "2025-12-22", "--json", "--csv"], 2, "not allowed with argument"),
    ],
)
def test_empty_and_bad_input(filled, capsys, argv, code, message):
    result = options_pipeline(capsys, "metrics", *argv)
    assert result.code == code
    assert message in result.err and len(result.err.strip().splitlines()) == 1
