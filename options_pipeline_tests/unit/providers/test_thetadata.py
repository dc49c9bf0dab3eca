"""ThetaData provider against the local Theta Terminal stand-in: formats, roots, limits, errors."""

from __future__ import annotations

import math
import threading
from datetime import date, datetime, time

import pytest
from scipy.stats import norm

from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
)
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.normalize import ChainBuilder
from options_pipeline.providers.thetadata import ThetaDataProvider, parse_csv
from options_pipeline_tests.stand_in import Fault
from options_pipeline_tests.thetadata_server import ThetaTestServer

DAY = date(2025, 12, 18)


def test_whole_chain_matches_the_served_market_field_by_field(theta: ThetaTestServer) -> None:
    snap = theta.provider().fetch_chain("SPY", DAY)
    expected = theta.chain("SPY", DAY)
    assert expected is not None
    assert len(snap.quotes) == len(expected.quotes) and snap.rejected == {}
    got = {q.contract_symbol: q for q in snap.quotes}
    for q in expected.quotes:
        g = got[q.contract_symbol]
        assert (g.expiration_date, g.strike, g.option_type) == (
            q.expiration_date,
            q.strike,
            q.option_type,
        )
        assert (g.bid, g.ask, g.volume, g.open_interest) == (
            q.bid,
            q.ask,
            q.volume,
            q.open_interest,
        )
        assert g.last == (q.last if q.volume else None)  # a close of 0 with no trades is no price
        assert g.implied_volatility == pytest.approx(q.implied_volatility, abs=1e-8)
        assert g.delta == pytest.approx(q.delta, abs=1e-7)
        assert g.vega == pytest.approx(q.vega, abs=1e-7)  # served per 1.00 vol, stored per point
    assert snap.underlying_price == expected.underlying_price
    assert snap.underlying_price_source == (
        "thetadata:/v3/option/history/greeks/eod.underlying_price"
    )
    assert snap.provider_mark_time == datetime(2025, 12, 18, 17, 15, 28, 710000, tzinfo=NEW_YORK)
    # open interest stored for D is the figure known at D's open: the end of the previous session
    assert snap.open_interest_as_of == date(2025, 12, 17)
    assert (snap.open_interest_source or "").startswith("thetadata:/v3/option/history/open_int")
    # one request per endpoint, the whole chain day by day, OI dated D (= end of D-1, OPRA)
    assert snap.requests == 2 == len(theta.requests)
    greeks = theta.requests_for(endpoint="greeks")[0].query
    assert greeks == {
        "symbol": "SPY",
        "expiration": "*",
        "start_date": "20251218",
        "end_date": "20251218",
        "format": "csv",
    }
    assert theta.requests_for(endpoint="open_interest")[0].query["date"] == "20251218"


def test_json_answers_give_the_same_snapshot_as_csv(theta: ThetaTestServer) -> None:
    csv_snap = theta.provider().fetch_chain("QQQ", DAY)
    json_snap = theta.provider(response_format="json").fetch_chain("QQQ", DAY)
    assert json_snap.quotes == csv_snap.quotes and json_snap.rejected == {}
    assert {r.query["format"] for r in theta.requests} == {"csv", "json"}


def test_the_spec_example_row_maps_with_vega_per_vol_point() -> None:
    """ThetaData's own example row (AAPL 220 call, 2024-11-04) against closed-form Black-Scholes:
    its d1 and vega (per 1.00 of vol) follow from S, K, T, IV, so vega is divided by 100."""
    header = (
        "symbol,expiration,strike,right,timestamp,open,high,low,close,volume,count,bid_size,"
        "bid_exchange,bid,bid_condition,ask_size,ask_exchange,ask,ask_condition,delta,theta,"
        "vega,rho,epsilon,lambda,gamma,vanna,charm,vomma,veta,vera,speed,zomma,color,ultima,"
        "d1,d2,dual_delta,dual_gamma,implied_vol,iv_error,underlying_timestamp,"
        "underlying_price"
    )
    line = (
        "AAPL,2024-11-08,220.000,CALL,2024-11-04T15:59:59.828,3.90,4.85,3.35,4.15,7425,1511,9,"
        "11,4.10,50,12,5,4.25,50,0.6083,-0.3892,8.9221,1.4334,-1.4791,32.3623,0.0495,-0.2765,"
        "3.6779,1.7667,0.0149,0.0000,0.0000,0.0000,-0.0163,-15.6407,0.2750,0.2401,-0.5945,"
        "0.0000,0.3334,0.0001,2024-11-04T17:15:28.71,221.870"
    )
    [row] = parse_csv(f"{header}\r\n{line}\r\n", ("symbol", "right"), "example")
    s, k, sigma, t, r = 221.87, 220.0, 0.3334, 4 / 365, 0.05
    d1 = (math.log(s / k) + (r + sigma**2 / 2) * t) / (sigma * math.sqrt(t))
    vega_per_unit = s * norm.pdf(d1) * math.sqrt(t)
    assert d1 == pytest.approx(float(row["d1"]), abs=0.005)
    assert vega_per_unit == pytest.approx(float(row["vega"]), rel=0.01)

    builder = ChainBuilder("AAPL", date(2024, 11, 4))
    quote = ThetaDataProvider._add(builder, "AAPL", row, "2732")
    assert quote is not None and quote.contract_symbol == "AAPL241108C00220000"
    assert quote.vega == pytest.approx(vega_per_unit / 100, rel=0.01)
    assert (quote.last, quote.volume, quote.open_interest) == (4.15, 7425, 2732)
    assert (quote.bid, quote.ask, quote.implied_volatility) == (4.10, 4.25, 0.3334)


def test_index_asks_both_roots_and_keeps_every_contract(theta: ThetaTestServer) -> None:
    snap = theta.provider().fetch_chain("^SPX", DAY)
    expected = theta.chain("SPX", DAY)
    assert expected is not None and snap.symbol == "SPX"
    assert {r.symbol for r in theta.requests} == {"SPX", "SPXW"} and snap.requests == 4
    assert {q.identity for q in snap.quotes} == {q.identity for q in expected.quotes}
    roots = {q.contract_symbol[:4] for q in snap.quotes}
    assert roots == {"SPXW", "SPX2"}  # SPX monthlies (SPX25...), weeklies under SPXW


def test_requests_in_flight_never_exceed_the_configured_concurrency() -> None:
    with ThetaTestServer(concurrency_limit=2) as srv:
        srv.add_fault(Fault("slow", times=None, delay=0.15))
        provider = srv.provider(concurrency=2)
        days = [date(2025, 12, 15), date(2025, 12, 16), date(2025, 12, 17)]
        threads = [threading.Thread(target=provider.fetch_chain, args=("SPX", d)) for d in days]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert srv.count() == 12 and srv.count(status=429) == 0
        assert srv.max_in_flight == 2  # parallel, and never beyond the tier's bound

    with ThetaTestServer() as srv:
        srv.add_fault(Fault("slow", times=None, delay=0.1))
        srv.provider(concurrency="free").fetch_chain("SPX", DAY)
        assert srv.max_in_flight == 1 and srv.count() == 4


def test_thetadata_status_codes(theta: ThetaTestServer) -> None:
    provider = theta.provider()
    theta.add_fault(Fault("no_data"), endpoint="greeks", symbol="SPY")
    with pytest.raises(NoContracts, match="472 NO_DATA"):
        provider.fetch_chain("SPY", DAY)
    theta.add_fault(Fault("no_data"), endpoint="open_interest", symbol="SPY")
    with pytest.raises(NotAvailable, match=r"open interest .* not available"):
        provider.fetch_chain("SPY", DAY)
    theta.add_fault(Fault("permission"), endpoint="greeks")
    with pytest.raises(NotAvailable, match=r"471.*PERMISSION"):
        provider.fetch_chain("SPY", DAY)
    with pytest.raises(NotAvailable, match="471"):  # before the plan's history depth
        provider.fetch_chain("SPY", date(2015, 12, 17))

    theta.reset()
    theta.add_fault(Fault("os_limit", times=2), endpoint="greeks")
    theta.add_fault(Fault("disconnected", times=1), endpoint="open_interest")
    snap = provider.fetch_chain("SPY", DAY)  # 429 backs off, 474 is retried
    assert len(snap.quotes) == 300 and snap.requests == 5
    assert theta.count(status=429) == 2 and theta.count(status=474) == 1


def test_honest_history_refuses_before_any_request(theta: ThetaTestServer) -> None:
    today = theta.today
    provider = theta.provider()
    with pytest.raises(NoContracts, match="weekend"):
        provider.fetch_chain("SPY", date(2025, 12, 20))
    with pytest.raises(NoContracts, match="holiday"):
        provider.fetch_chain("SPY", date(2025, 12, 25))
    with pytest.raises(NotAvailable, match="after today"):
        provider.fetch_chain("SPY", date(2025, 12, 22))
    early = theta.provider(now=lambda: datetime.combine(today, time(16, 30), tzinfo=NEW_YORK))
    with pytest.raises(NotAvailable, match="17:15"):
        early.fetch_chain("SPY", today)
    assert theta.count() == 0
    assert len(provider.fetch_chain("SPY", today).quotes) == 300  # after the report: served


def test_rows_of_another_date_are_never_filed_under_the_asked_one(theta: ThetaTestServer) -> None:
    theta.add_fault(Fault("wrong_date", times=None))
    with pytest.raises(ProviderError, match="other dates only"):
        theta.provider().fetch_chain("SPY", DAY)


def test_unexpected_shape_and_slow_answers(theta: ThetaTestServer) -> None:
    theta.add_fault(Fault("bad_header"), endpoint="greeks")
    with pytest.raises(ProviderError, match="CSV header lacks right"):
        theta.provider().fetch_chain("SPY", DAY)
    theta.add_fault(Fault("slow", times=None, delay=0.5), endpoint="open_interest")
    with pytest.raises(ProviderTimeout):
        theta.provider(read_timeout=0.1, max_retries=1).fetch_chain("SPY", DAY)


def test_concurrency_setting() -> None:
    assert ThetaDataProvider(concurrency="PRO").concurrency == 8
    assert ThetaDataProvider(concurrency="2").concurrency == 2
    for bad in ("0", "many", 0):
        with pytest.raises(ProviderConfigError, match="THETADATA_CONCURRENCY"):
            ThetaDataProvider(concurrency=bad)
