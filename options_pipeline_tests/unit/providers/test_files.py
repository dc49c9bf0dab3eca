"""The files provider against a real CBOE quote table and DataShop files built from the documented
headers; IV checked against scipy's brentq on the textbook formula, totals with the csv module."""

from __future__ import annotations

import csv
import gzip
import math
import shutil
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from scipy.optimize import brentq

from options_pipeline.providers.base import NoContracts, NotAvailable, ProviderConfigError
from options_pipeline.providers.files import (
    IV_NOT_LIVE,
    IV_OUTSIDE_BOUNDS,
    IV_SOLVED,
    QUOTES_EOD_FALLBACK,
    ConflictingFiles,
    FilesError,
    FilesProvider,
    build_catalog,
    parse_saved_at,
    scan_directory,
    session_of_saved_at,
)
from options_pipeline_tests.datashop_files import (
    QUOTE_TABLE_HEADER,
    Row,
    quoted_row,
    textbook_price,
    write_datashop,
    write_quote_table,
)

# the real quote table from shared/data, bundled (gzipped) so the test runs in any checkout
NDX_GZ = Path(__file__).resolve().parents[2] / "data" / "ndx_quotedata.csv.gz"
NY = ZoneInfo("America/New_York")
D = date(2022, 2, 3)  # a Thursday session
EARLY = date(2022, 11, 25)  # the day after Thanksgiving: 13:00 close


def _years(expiration: date, quoted: datetime) -> float:
    """Time to expiry in years (365-day), from the quote to 16:00 New York on the expiry day."""
    end = datetime(expiration.year, expiration.month, expiration.day, 16, 0, tzinfo=NY)
    return (end - quoted).total_seconds() / (365 * 86400)


# --------------------------------------------------------------------------- real quote table


def _ndx_oracle(path: Path) -> tuple[int, int, dict]:
    """Distinct identities, total OI and rows per identity, read with the csv module."""
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    header = lines[3]
    strike_at = header.index("Strike")
    per_identity: dict[tuple, list[int]] = defaultdict(list)
    total_oi = 0
    for row in lines[4:]:
        exp = datetime.strptime(row[0], "%a %b %d %Y").date()
        k = float(row[strike_at])
        for cp, oi in (("C", int(row[strike_at - 1])), ("P", int(row[-1]))):
            per_identity[(exp, k, cp)].append(oi)
            total_oi += oi
    return len(per_identity), total_oi, per_identity


@pytest.fixture(scope="session")
def ndx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("real") / "ndx_quotedata.csv"
    path.write_bytes(gzip.decompress(NDX_GZ.read_bytes()))
    return path


@pytest.fixture
def ndx_dir(tmp_path: Path, ndx_file: Path) -> Path:
    shutil.copy(ndx_file, tmp_path / "ndx_quotedata.csv")
    return tmp_path


def test_real_ndx_quote_table_spot_session_contracts_and_open_interest(ndx_dir):
    catalog = build_catalog(ndx_dir)
    assert [(f.symbol, f.session) for f in catalog.quote_tables] == [("NDX", date(2022, 2, 4))]
    snap = FilesProvider(ndx_dir).fetch_chain("NDX", date(2022, 2, 4))
    assert snap.underlying_price == pytest.approx(14694.35, abs=0.005)
    contracts, total_oi, per_identity = _ndx_oracle(ndx_dir / "ndx_quotedata.csv")
    assert len(snap.quotes) == contracts
    assert sum(q.open_interest or 0 for q in snap.quotes) == total_oi
    assert snap.open_interest_as_of == date(2022, 2, 3)  # known at the 4th's open
    # NDX and NDXP list the same identity: one merged contract, not a dropped duplicate
    collided = {k: v for k, v in per_identity.items() if len(v) > 1}
    assert collided, "the real file has NDX/NDXP collisions"
    assert "duplicate" not in snap.rejected
    assert snap.merged == sum(len(v) - 1 for v in collided.values())
    by_identity = {q.identity: q for q in snap.quotes}
    for identity, ois in collided.items():
        assert by_identity[identity].open_interest == sum(ois)
    roots = Counter(q.contract_symbol[:4] for q in snap.quotes)
    assert roots["NDXP"] > 0 and sum(v for k, v in roots.items() if k.startswith("NDX2")) > 0


def test_real_ndx_quote_table_keeps_file_iv_and_solves_only_zero_iv(ndx_dir):
    snap = FilesProvider(ndx_dir).fetch_chain("NDX", date(2022, 2, 4))
    with open(ndx_dir / "ndx_quotedata.csv", newline="") as f:
        lines = list(csv.reader(f))
    strike_at = lines[3].index("Strike")
    file_iv = {}
    for row in lines[4:]:
        exp = datetime.strptime(row[0], "%a %b %d %Y").date()
        file_iv[(exp, float(row[strike_at]), "C")] = float(row[7])
        file_iv[(exp, float(row[strike_at]), "P")] = float(row[strike_at + 7])
    kept = [q for q in snap.quotes if file_iv[q.identity] > 0]
    assert kept and all(q.implied_volatility == file_iv[q.identity] for q in kept)
    assert snap.annotations.get(IV_SOLVED, 0) + snap.annotations.get(IV_OUTSIDE_BOUNDS, 0) > 0


# --------------------------------------------------------------------------- header timestamps


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Date: February 5, 2022, 8:26 PM EST", datetime(2022, 2, 5, 20, 26, tzinfo=NY)),
        ("Date: February 5 2022, 8:26 PM EST", datetime(2022, 2, 5, 20, 26, tzinfo=NY)),
        ("Date: November 4, 2022 at 4:31 PM EDT", datetime(2022, 11, 4, 16, 31, tzinfo=NY)),
        ("Date: January 5, 2024, 10:05 AM CST", datetime(2024, 1, 5, 11, 5, tzinfo=NY)),
    ],
)
def test_the_three_header_variants(line, expected):
    assert parse_saved_at(line) == expected


@pytest.mark.parametrize(
    ("saved", "session"),
    [
        (datetime(2022, 2, 4, 16, 30), date(2022, 2, 4)),  # after the close
        (datetime(2022, 2, 5, 20, 26), date(2022, 2, 4)),  # Saturday
        (datetime(2022, 2, 21, 18, 0), date(2022, 2, 18)),  # Presidents' Day
        (datetime(2022, 11, 25, 14, 0), date(2022, 11, 25)),  # after a 13:00 early close
        (datetime(2022, 2, 7, 8, 0), date(2022, 2, 4)),  # Monday before the open
    ],
)
def test_session_of_the_header_timestamp(saved, session):
    assert session_of_saved_at(saved.replace(tzinfo=NY)) == session


@pytest.mark.parametrize("saved", [datetime(2022, 2, 4, 11, 2), datetime(2022, 11, 25, 12, 59)])
def test_a_table_saved_during_market_hours_is_refused_as_intraday(tmp_path, saved):
    write_quote_table(
        tmp_path / "spx.csv",
        name="SPX",
        spot=4500.0,
        date_line=f"Date: {saved:%B} {saved.day}, {saved.year}, {saved:%I:%M %p} EST",
        rows=[],
    )
    catalog = build_catalog(tmp_path)
    assert not catalog.quote_tables
    assert "intraday" in catalog.unreadable[0].reason


# --------------------------------------------------------------------------- DataShop


def _spx_and_aapl(day: date, *, with_iv: bool, r: float = 0.0, q: float = 0.0) -> list[Row]:
    quoted = datetime(day.year, day.month, day.day, 15, 45, tzinfo=NY)
    rows = []
    for exp, roots in ((date(2022, 2, 4), ("SPXW",)), (date(2022, 2, 18), ("SPX", "SPXW"))):
        for root in roots[:1]:
            for k in range(4300, 4701, 50):
                for cp in ("c", "P"):
                    t = _years(exp, quoted)
                    rows.append(
                        quoted_row(
                            "^SPX",
                            day,
                            root,
                            exp,
                            float(k),
                            cp,
                            spot=4500.0,
                            vol=0.15 + (k - 4500) ** 2 / 4e6,
                            t=t,
                            r=r,
                            q=q,
                            with_iv=with_iv,
                            open_interest=k // 10,
                        )
                    )
    for k in (160.0, 170.0, 175.0, 180.0):
        for cp in ("c", "p"):
            t = _years(date(2022, 3, 18), quoted)
            rows.append(
                quoted_row(
                    "AAPL",
                    day,
                    "AAPL",
                    date(2022, 3, 18),
                    k,
                    cp,
                    spot=172.5,
                    vol=0.3,
                    t=t,
                    r=r,
                    q=q,
                    with_iv=with_iv,
                    open_interest=7,
                )
            )
    rows.append(
        quoted_row(
            "QQQ",
            day,
            "QQQ",
            date(2022, 3, 18),
            350.0,
            "c",
            spot=352.0,
            vol=0.25,
            t=_years(date(2022, 3, 18), quoted),
            with_iv=with_iv,
        )
    )
    return rows


@pytest.mark.parametrize("zipped", [False, True])
def test_datashop_calcs_reads_only_the_symbol_with_file_iv_and_spot(tmp_path, zipped):
    rows = _spx_and_aapl(D, with_iv=True)
    write_datashop(tmp_path, D, rows, layout="calcs", zipped=zipped)
    provider = FilesProvider(tmp_path)
    spx = provider.fetch_chain("SPX", D)
    expected = [r for r in rows if r.underlying == "^SPX"]
    assert len(spx.quotes) == len(expected)
    assert spx.underlying_price == 4500.0
    assert "active_underlying_price_1545" in spx.underlying_price_source
    by_symbol = {q.contract_symbol: q for q in spx.quotes}
    first = expected[0]
    q0 = by_symbol[f"SPXW220204C{round(first.strike * 1000):08d}"]
    assert (q0.bid, q0.ask, q0.implied_volatility) == (
        round(first.bid_1545, 6),
        round(first.ask_1545, 6),
        round(first.iv_1545, 6),
    )
    assert q0.open_interest == first.open_interest and q0.option_type == "C"
    assert {q.option_type for q in spx.quotes} == {"C", "P"}
    assert IV_SOLVED not in spx.annotations
    aapl = provider.fetch_chain("AAPL", D)
    assert len(aapl.quotes) == 8 and aapl.underlying_price == 172.5
    assert all(q.contract_symbol.startswith("AAPL220318") for q in aapl.quotes)
    with pytest.raises(NotAvailable, match="MSFT"):
        provider.fetch_chain("MSFT", D)


@pytest.mark.parametrize("zipped", [False, True])
def test_datashop_quotes_layout_solves_iv_like_brentq(tmp_path, zipped):
    r, q = 0.01, 0.005
    rows = _spx_and_aapl(D, with_iv=False, r=r, q=q)
    write_datashop(tmp_path, D, rows, layout="quotes", zipped=zipped)
    snap = FilesProvider(tmp_path, risk_free_rate=r, dividend_yield=q).fetch_chain("SPX", D)
    assert snap.underlying_price == pytest.approx(4500.0)
    assert "underlying mid" in snap.underlying_price_source
    quoted = datetime(D.year, D.month, D.day, 15, 45, tzinfo=NY)
    checked = 0
    for quote in snap.quotes:
        mid = (quote.bid + quote.ask) / 2
        t = _years(quote.expiration_date, quoted)
        call = quote.option_type == "C"
        intrinsic = (
            max(4500 * math.exp(-q * t) - quote.strike * math.exp(-r * t), 0.0)
            if call
            else max(quote.strike * math.exp(-r * t) - 4500 * math.exp(-q * t), 0.0)
        )
        if quote.bid <= 0 or mid <= intrinsic:  # no two-sided market / no time value
            assert quote.implied_volatility is None
            continue
        oracle = brentq(
            lambda v, k=quote.strike, t=t, c=call, m=mid: (
                textbook_price(4500.0, k, t, v, c, r, q) - m
            ),
            1e-4,
            10.0,
            xtol=1e-15,
        )
        got = quote.implied_volatility
        assert textbook_price(4500.0, quote.strike, t, got, call, r, q) == pytest.approx(
            mid, rel=1e-9
        )
        d1 = (math.log(4500 / quote.strike) + (r - q + oracle**2 / 2) * t) / (oracle * t**0.5)
        vega = 4500 * math.exp(-q * t) * math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi) * t**0.5
        if vega > 1.0:  # where the price pins the vol down, the two solvers agree closely
            assert got == pytest.approx(oracle, rel=1e-7)
            checked += 1
        assert quote.gamma is not None and quote.gamma > 0
    assert checked >= 25 and snap.annotations[IV_SOLVED] >= checked


def test_blank_1545_on_an_early_close_uses_eod_quotes_and_expired_contracts_keep_no_iv(tmp_path):
    quoted = datetime(2022, 11, 25, 15, 45, tzinfo=NY)
    live = quoted_row(
        "^SPX",
        EARLY,
        "SPXW",
        date(2022, 12, 2),
        4000.0,
        "p",
        spot=4025.0,
        vol=0.2,
        t=_years(date(2022, 12, 2), quoted),
        with_iv=False,
    )
    blank = quoted_row(
        "^SPX",
        EARLY,
        "SPXW",
        date(2022, 12, 2),
        4050.0,
        "c",
        spot=4025.0,
        vol=0.2,
        t=_years(date(2022, 12, 2), quoted),
        with_iv=False,
    )
    blank.bid_1545 = blank.ask_1545 = None
    expiring = Row(
        "^SPX",
        EARLY,
        "SPXW",
        EARLY,
        4000.0,
        "C",
        None,
        None,
        25.0,
        26.0,
        None,
        4025.0,
        open_interest=50,
    )
    write_datashop(tmp_path, EARLY, [live, blank, expiring], layout="quotes")
    snap = FilesProvider(tmp_path).fetch_chain("SPX", EARLY)
    by_strike = {(q.strike, q.option_type, q.expiration_date): q for q in snap.quotes}
    fell_back = by_strike[(4050.0, "C", date(2022, 12, 2))]
    assert (fell_back.bid, fell_back.ask) == (round(blank.bid_eod, 6), round(blank.ask_eod, 6))
    assert fell_back.implied_volatility is not None  # solved from the 13:00 quote, still live
    expired = by_strike[(4000.0, "C", EARLY)]
    assert expired.implied_volatility is None and expired.open_interest == 50
    assert snap.annotations[QUOTES_EOD_FALLBACK] == 2
    assert snap.annotations[IV_NOT_LIVE] == 1


def test_a_price_outside_the_no_arbitrage_bounds_keeps_no_iv_and_is_counted(tmp_path):
    quoted = datetime(2022, 2, 3, 15, 45, tzinfo=NY)
    t = _years(date(2022, 2, 18), quoted)
    good = quoted_row(
        "AAPL", D, "AAPL", date(2022, 2, 18), 170.0, "c", spot=172.5, vol=0.3, t=t, with_iv=False
    )
    below_intrinsic = Row(
        "AAPL", D, "AAPL", date(2022, 2, 18), 150.0, "c", 20.0, 20.5, 20.0, 20.5, 172.5, 172.5
    )  # intrinsic 22.5
    write_datashop(tmp_path, D, [good, below_intrinsic], layout="quotes")
    snap = FilesProvider(tmp_path).fetch_chain("AAPL", D)
    iv = {q.strike: q.implied_volatility for q in snap.quotes}
    assert iv[150.0] is None and iv[170.0] == pytest.approx(0.3, rel=1e-6)
    assert snap.annotations[IV_OUTSIDE_BOUNDS] == 1 and snap.annotations[IV_SOLVED] == 1


def test_datashop_file_with_several_underlyings_is_read_once_by_prepare(tmp_path):
    rows = _spx_and_aapl(D, with_iv=True)
    path = write_datashop(tmp_path, D, rows, layout="calcs")
    provider = FilesProvider(tmp_path)
    provider.prepare(D, ["SPX", "AAPL", "QQQ"])
    path.unlink()  # the day's rows are already in memory: no second read
    assert len(provider.fetch_chain("QQQ", D).quotes) == 1
    assert len(provider.fetch_chain("AAPL", D).quotes) == 8


# --------------------------------------------------------------------------- conflicts, errors


def test_two_files_claiming_the_same_session_and_symbol_name_both(tmp_path):
    rows = _spx_and_aapl(D, with_iv=True)
    plain = write_datashop(tmp_path, D, rows, layout="calcs")
    zipped = write_datashop(tmp_path, D, rows, layout="calcs", zipped=True)
    with pytest.raises(ConflictingFiles) as err:
        FilesProvider(tmp_path).fetch_chain("AAPL", D)
    assert str(plain) in str(err.value) and str(zipped) in str(err.value)


def test_two_quote_tables_for_one_session_conflict(ndx_dir):
    shutil.copy(ndx_dir / "ndx_quotedata.csv", ndx_dir / "saved again.csv")
    with pytest.raises(ConflictingFiles, match=r"ndx_quotedata\.csv and .*saved again\.csv"):
        FilesProvider(ndx_dir).fetch_chain("NDX", date(2022, 2, 4))


def test_a_malformed_datashop_row_fails_only_its_symbol_with_file_and_line(tmp_path):
    rows = _spx_and_aapl(D, with_iv=True)
    path = write_datashop(tmp_path, D, rows, layout="calcs")
    lines = path.read_text().splitlines()
    bad_line = next(i for i, line in enumerate(lines) if line.startswith("AAPL")) + 3
    fields = lines[bad_line - 1].split(",")
    fields[12] = "n/a?"  # bid_1545
    lines[bad_line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    provider = FilesProvider(tmp_path)
    provider.prepare(D, ["SPX", "AAPL"])
    with pytest.raises(FilesError, match=rf"{path.name} line {bad_line}: bid_1545 'n/a\?'"):
        provider.fetch_chain("AAPL", D)
    assert len(provider.fetch_chain("SPX", D).quotes) == 36


def test_a_truncated_datashop_row_is_located(tmp_path):
    rows = _spx_and_aapl(D, with_iv=True)
    path = write_datashop(tmp_path, D, rows, layout="quotes", zipped=True)
    text = path.read_bytes()
    del text
    plain = write_datashop(tmp_path / "p", D, rows, layout="quotes")
    lines = plain.read_text().splitlines()
    lines[-1] = ",".join(lines[-1].split(",")[:5])  # QQQ's row cut short
    plain.write_text("\n".join(lines) + "\n")
    with pytest.raises(FilesError, match=rf"line {len(lines)}: 5 fields, the header has 26"):
        FilesProvider(tmp_path / "p").fetch_chain("QQQ", D)
    assert len(FilesProvider(tmp_path / "p").fetch_chain("AAPL", D).quotes) == 8


def test_a_malformed_quote_table_line_names_file_and_line(ndx_dir):
    path = ndx_dir / "ndx_quotedata.csv"
    lines = path.read_text().splitlines()
    fields = lines[99].split(",")
    fields[11] = "eleven"  # the Strike column
    lines[99] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FilesError, match=r"ndx_quotedata.csv line 100: Strike 'eleven'"):
        FilesProvider(ndx_dir).fetch_chain("NDX", date(2022, 2, 4))


def test_zero_dte_rows_of_a_table_saved_after_the_close_keep_no_iv(tmp_path):
    row = [
        "Thu Feb 03 2022",
        "SPXW220203C04500000",
        "3",
        "0",
        "2.5",
        "3.5",
        "10",
        "0",
        "0",
        "0",
        "100",
        "4500.00",
        "SPXW220203P04500000",
        "1",
        "0",
        "0.5",
        "1",
        "10",
        "0",
        "0",
        "0",
        "200",
    ]
    week = [
        "Fri Feb 11 2022",
        "SPXW220211C04500000",
        "60",
        "0",
        "59",
        "61",
        "10",
        "0",
        "0",
        "0",
        "100",
        "4500.00",
        "SPXW220211P04500000",
        "55",
        "0",
        "54",
        "56",
        "10",
        "0.2",
        "-0.5",
        "0.001",
        "200",
    ]
    write_quote_table(
        tmp_path / "x.csv",
        name="S&P 500 INDEX",
        spot=4502.0,
        date_line="Date: February 3, 2022 at 5:10 PM EST",
        rows=[row, week],
    )
    snap = FilesProvider(tmp_path).fetch_chain("SPX", D)
    by = {(q.expiration_date, q.option_type): q for q in snap.quotes}
    assert by[(D, "C")].implied_volatility is None and by[(D, "C")].gamma is None
    assert by[(D, "C")].open_interest == 100
    assert by[(date(2022, 2, 11), "C")].implied_volatility is not None  # solved: IV 0 in file
    assert by[(date(2022, 2, 11), "P")].implied_volatility == 0.2  # the file's own
    assert snap.annotations[IV_NOT_LIVE] == 2


def test_legacy_quote_table_columns(tmp_path):
    header = QUOTE_TABLE_HEADER.replace("Volume", "Vol").replace("Open Interest", "Open Int")
    row = [
        "Fri Feb 11 2022",
        "SPY220211C00450000",
        "5",
        "0",
        "4.9",
        "5.1",
        "10",
        "0.2",
        "0.5",
        "0.03",
        "1000",
        "450.00",
        "SPY220211P00450000",
        "5",
        "0",
        "4.9",
        "5.1",
        "20",
        "0.21",
        "-0.5",
        "0.03",
        "2000",
    ]
    write_quote_table(
        tmp_path / "spy.csv",
        name="SPY",
        spot=450.0,
        header=header,
        date_line="Date: February 3, 2020, 4:45 PM EST",
        rows=[row],
    )
    snap = FilesProvider(tmp_path).fetch_chain("SPY", date(2020, 2, 3))
    assert sorted((q.option_type, q.volume, q.open_interest) for q in snap.quotes) == [
        ("C", 10, 1000),
        ("P", 20, 2000),
    ]


def test_a_dry_run_plans_no_requests_for_files(ndx_dir):
    from options_pipeline.plan import provider_requests

    assert provider_requests(FilesProvider(ndx_dir), "NDX", date(2022, 2, 4), 5000) == 0


def test_closed_days_and_configuration_errors(tmp_path, monkeypatch):
    with pytest.raises(NoContracts, match="weekend"):
        FilesProvider(tmp_path).fetch_chain("SPX", date(2022, 2, 5))
    monkeypatch.delenv("OPTIONS_PIPELINE_FILES_DIR", raising=False)
    with pytest.raises(ProviderConfigError, match="OPTIONS_PIPELINE_FILES_DIR"):
        FilesProvider()
    with pytest.raises(ProviderConfigError, match="not a directory"):
        FilesProvider(tmp_path / "missing")
    monkeypatch.setenv("OPTIONS_PIPELINE_FILES_RISK_FREE_RATE", "4%")
    with pytest.raises(ProviderConfigError, match="not a number"):
        FilesProvider(tmp_path)


def test_scan_lists_coverage_unreadable_files_and_conflicts(ndx_dir):
    write_datashop(ndx_dir / "eod", D, _spx_and_aapl(D, with_iv=True), zipped=True)
    (ndx_dir / "notes.csv").write_text("hello,world\n1,2\n")
    write_quote_table(
        ndx_dir / "intraday.csv",
        name="SPY",
        spot=450.0,
        rows=[],
        date_line="Date: February 3, 2022, 11:15 AM EST",
    )
    shutil.copy(ndx_dir / "ndx_quotedata.csv", ndx_dir / "copy.csv")
    report = scan_directory(ndx_dir)
    assert report.sessions == [D, date(2022, 2, 4)]
    assert report.symbols == ["AAPL", "NDX", "QQQ", "SPX"]
    assert set(report.coverage) == {(D, "AAPL"), (D, "QQQ"), (D, "SPX"), (date(2022, 2, 4), "NDX")}
    reasons = {Path(u.label).name: u.reason for u in report.unreadable}
    assert "neither a DataShop" in reasons["notes.csv"]
    assert "intraday" in reasons["intraday.csv"]
    assert list(report.conflicts) == [(date(2022, 2, 4), "NDX")]


def test_quote_table_root_twins_merge_by_the_agreed_rule(tmp_path):
    # SPX (AM) and SPXW (PM) listing the same identity: OI and volume summed, IV OI-weighted,
    # bid/ask from the row with the larger OI
    spx = [
        "Fri Mar 18 2022",
        "SPX220318C04500000",
        "90",
        "0",
        "89",
        "91",
        "10",
        "0.20",
        "0.5",
        "0.001",
        "300",
        "4500.00",
        "SPX220318P04500000",
        "80",
        "0",
        "79",
        "81",
        "5",
        "0.22",
        "-0.5",
        "0.001",
        "100",
    ]
    spxw = [
        "Fri Mar 18 2022",
        "SPXW220318C04500000",
        "92",
        "0",
        "91",
        "93",
        "30",
        "0.30",
        "0.5",
        "0.001",
        "100",
        "4500.00",
        "SPXW220318P04500000",
        "82",
        "0",
        "81",
        "83",
        "15",
        "0.24",
        "-0.5",
        "0.001",
        "300",
    ]
    write_quote_table(
        tmp_path / "spx.csv",
        name="SPX",
        spot=4500.0,
        rows=[spx, spxw],
        date_line="Date: February 3, 2022 at 4:20 PM EST",
    )
    snap = FilesProvider(tmp_path).fetch_chain("SPX", D)
    assert snap.merged == 2 and snap.contract_count == 2
    call = next(q for q in snap.quotes if q.option_type == "C")
    assert (call.open_interest, call.volume) == (400, 40)
    assert call.implied_volatility == pytest.approx((0.20 * 300 + 0.30 * 100) / 400)
    assert (call.bid, call.ask) == (89.0, 91.0)
    put = next(q for q in snap.quotes if q.option_type == "P")
    assert (put.bid, put.ask, put.open_interest) == (81.0, 83.0, 400)
