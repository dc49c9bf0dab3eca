"""`ingest_options --provider files` end to end: a directory of DataShop files and a real CBOE quote
table, two sessions, real PostgreSQL and real Dagster runs; expected counts computed here."""

from __future__ import annotations

import gzip
import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline
from options_pipeline_tests.datashop_files import Row, quoted_row, write_datashop

NY = ZoneInfo("America/New_York")
THU, FRI = date(2022, 2, 3), date(2022, 2, 4)
NDX_GZ = Path(__file__).resolve().parents[1] / "data" / "ndx_quotedata.csv.gz"
NDX_CONTRACTS = 18_384  # distinct (expiration, strike, type) of the real table, per the csv module


def _rows(day: date, underlyings: dict[str, tuple[str, float]]) -> list[Row]:
    quoted = datetime(day.year, day.month, day.day, 15, 45, tzinfo=NY)
    rows = []
    for underlying, (root, spot) in underlyings.items():
        for exp in (date(2022, 2, 11), date(2022, 3, 18)):
            t = (datetime(exp.year, exp.month, exp.day, 16, tzinfo=NY) - quoted).total_seconds() / (
                365 * 86400
            )
            for i in range(-3, 4):
                for cp in ("c", "p"):
                    rows.append(
                        quoted_row(
                            underlying,
                            day,
                            root,
                            exp,
                            round(spot * (1 + i / 50)),
                            cp,
                            spot=spot,
                            vol=0.25,
                            t=t,
                            open_interest=10 + i,
                        )
                    )
    return rows


def _identities(rows: list[Row], underlying: str) -> int:
    return len(
        {
            (r.expiration, r.strike, r.option_type.upper())
            for r in rows
            if r.underlying == underlying
        }
    )


@pytest.fixture
def files_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "chains"
    (directory / "tables").mkdir(parents=True)
    (directory / "tables" / "ndx 2022-02-05.csv").write_bytes(gzip.decompress(NDX_GZ.read_bytes()))
    monkeypatch.setenv("OPTIONS_PIPELINE_FILES_DIR", str(directory))
    return directory


def _stored(db) -> dict[tuple[date, str], int]:
    rows = db.execute(
        "SELECT s.as_of, t.symbol, count(c.*) FROM option_chain_snapshots s "
        "JOIN tickers t ON t.id = s.ticker_id "
        "JOIN options_chains c ON c.ticker_id = s.ticker_id AND c.time = s.time "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return {(d, s): n for d, s, n in rows}


def test_two_sessions_of_files_through_the_cli_and_a_rerun_adds_nothing(
    pipeline_env, files_dir, db, capsys
):
    thu = _rows(
        THU,
        {
            "^SPX": ("SPXW", 4480.0),
            "AAPL": ("AAPL", 172.9),
            "^NDX": ("NDX", 14500.0),
            "QQQ": ("QQQ", 350.0),
        },
    )
    fri = _rows(FRI, {"^SPX": ("SPX", 4500.0), "AAPL": ("AAPL", 172.5)})
    write_datashop(files_dir / "datashop", THU, thu, layout="calcs", zipped=True)
    write_datashop(files_dir / "datashop", FRI, fri, layout="quotes")
    assert options_pipeline(capsys, "watchlist", "add", "idx", "SPX", "AAPL", "NDX").code == 0

    scan = options_pipeline(capsys, "files", "scan", str(files_dir))
    assert scan.code == 0, scan.out + scan.err
    assert "would add 6 snapshot(s); 0 already stored" in scan.out
    assert _stored(db) == {}  # the scan wrote nothing

    first = ingest_options(
        capsys,
        "--provider",
        "files",
        "--start-date",
        THU.isoformat(),
        "--end-date",
        FRI.isoformat(),
    )
    assert first.code == 0, first.out + first.err
    assert _stored(db) == {
        (THU, "AAPL"): _identities(thu, "AAPL"),
        (THU, "NDX"): _identities(thu, "^NDX"),
        (THU, "SPX"): _identities(thu, "^SPX"),
        (FRI, "AAPL"): _identities(fri, "AAPL"),
        (FRI, "NDX"): NDX_CONTRACTS,
        (FRI, "SPX"): _identities(fri, "^SPX"),
    }
    spot = db.execute(
        "SELECT underlying_price FROM option_chain_snapshots s JOIN tickers t ON "
        "t.id = s.ticker_id WHERE t.symbol = 'NDX' AND as_of = %s",
        (FRI,),
    ).fetchone()[0]
    assert float(spot) == pytest.approx(14694.35, abs=0.005)
    solved = db.execute(
        "SELECT count(*) FROM options_chains c JOIN tickers t ON "
        "t.id = c.ticker_id WHERE t.symbol = 'AAPL' AND c.time::date = %s AND "
        "implied_volatility IS NOT NULL",
        (FRI,),
    ).fetchone()[0]
    assert solved > 0  # the Quotes layout has no IV: solved from the mids

    before = _stored(db)
    again = ingest_options(
        capsys,
        "--provider",
        "files",
        "--start-date",
        THU.isoformat(),
        "--end-date",
        FRI.isoformat(),
    )
    assert again.code == 0
    assert _stored(db) == before
    rescan = options_pipeline(capsys, "files", "scan", str(files_dir))
    assert "would add 0 snapshot(s); 6 already stored" in rescan.out


def test_a_malformed_file_fails_only_its_symbol_and_conflicting_files_store_nothing(
    pipeline_env, files_dir, db, capsys
):
    thu = _rows(THU, {"^SPX": ("SPXW", 4480.0), "AAPL": ("AAPL", 172.9)})
    path = write_datashop(files_dir, THU, thu, layout="calcs")
    lines = path.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines, 1) if line.startswith("AAPL"))
    fields = lines[bad - 1].split(",")
    fields[4] = "1O0"  # strike with a letter O
    lines[bad - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    shutil.copy(files_dir / "tables" / "ndx 2022-02-05.csv", files_dir / "ndx copy.csv")
    fri = _rows(FRI, {"AAPL": ("AAPL", 172.5)})
    write_datashop(files_dir, FRI, fri, layout="quotes", zipped=True)
    assert options_pipeline(capsys, "watchlist", "add", "w", "SPX", "AAPL", "NDX").code == 0

    result = ingest_options(
        capsys,
        "--provider",
        "files",
        "--start-date",
        THU.isoformat(),
        "--end-date",
        FRI.isoformat(),
    )
    assert result.code == 1  # gaps remain
    assert set(_stored(db)) == {(THU, "SPX"), (FRI, "AAPL")}
    report = result.out + result.err
    assert f"{path.name} line {bad}: strike '1O0' is not a number" in report
    conflict = next(line for line in report.splitlines() if "2022-02-04 NDX (" in line)
    assert "conflicting_files" in conflict
    assert "ndx 2022-02-05.csv" in conflict and "ndx copy.csv" in conflict
    gaps = options_pipeline(
        capsys, "gaps", "--start-date", THU.isoformat(), "--end-date", FRI.isoformat()
    )
    assert "malformed_file" in gaps.out and "conflicting_files" in gaps.out
