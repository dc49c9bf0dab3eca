"""Alpha Vantage provider against the local stand-in: strings, 200-with-error answers, spot."""

from __future__ import annotations

import logging
from datetime import date, datetime, time

import pytest

from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderError,
    RateLimited,
    Unauthorized,
)
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.sample import spot_price
from options_pipeline_tests.alphavantage_server import TEST_KEY, AlphaVantageTestServer
from options_pipeline_tests.stand_in import Fault

DAY = date(2025, 12, 18)


def test_string_rows_map_onto_the_market_and_spot_is_the_daily_close(
    av: AlphaVantageTestServer,
) -> None:
    provider = av.provider()
    snap = provider.fetch_chain("SPY", DAY)
    expected = av.chain("SPY", DAY)
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
        assert g.last == (q.last if q.volume else None)
        assert g.implied_volatility == pytest.approx(q.implied_volatility, abs=1e-5)
        assert g.delta == pytest.approx(q.delta, abs=1e-5)
    # oracle: the sample market's close, not anything the provider computed
    assert snap.underlying_price == pytest.approx(spot_price("SPY", DAY), abs=5e-5)
    assert snap.underlying_price_source == "alphavantage:TIME_SERIES_DAILY.4. close"
    # open interest stored for D is the figure known at D's open: the end of the previous session
    assert snap.open_interest_as_of == date(2025, 12, 17)
    assert (snap.open_interest_source or "").startswith("alphavantage:HISTORICAL_OPTIONS")
    assert snap.requests == 2
    assert [r.endpoint for r in av.requests] == ["options", "daily"]
    assert av.requests[0].query == {
        "function": "HISTORICAL_OPTIONS",
        "symbol": "SPY",
        "date": "2025-12-18",
        "datatype": "json",
    }
    # the daily series is cached per symbol: the next session costs one request
    assert provider.fetch_chain("SPY", date(2025, 12, 17)).requests == 1


def test_spot_from_put_call_parity_when_the_series_is_unavailable(
    av: AlphaVantageTestServer,
) -> None:
    av.add_fault(Fault("no_series"), endpoint="daily")
    snap = av.provider().fetch_chain("QQQ", DAY)
    assert snap.underlying_price_source.startswith("alphavantage:put-call parity (2025-12-19")
    assert snap.underlying_price == pytest.approx(spot_price("QQQ", DAY), rel=0.003)


def test_old_dates_ask_the_full_series_and_fall_back_without_premium() -> None:
    old = date(2025, 3, 14)  # more than 100 sessions back: not in the compact series
    with AlphaVantageTestServer() as srv:
        snap = srv.provider().fetch_chain("IWM", old)
        assert snap.underlying_price == pytest.approx(spot_price("IWM", old), abs=5e-5)
        assert [r.query.get("outputsize") for r in srv.requests_for(endpoint="daily")] == [
            "compact",
            "full",
        ]
    with AlphaVantageTestServer() as srv:
        srv.full_series = False  # a plan whose options are in, the full daily history not
        snap = srv.provider().fetch_chain("IWM", old)
        assert "put-call parity" in snap.underlying_price_source
        assert snap.underlying_price == pytest.approx(spot_price("IWM", old), rel=0.003)


def test_premium_sample_data_and_premium_information_are_refused(
    av: AlphaVantageTestServer,
) -> None:
    provider = av.provider()
    av.add_fault(Fault("premium_sample"))
    with pytest.raises(NotAvailable, match=r"instead of 'success'.*artificial sample"):
        provider.fetch_chain("SPY", DAY)
    av.add_fault(Fault("premium_information"))
    with pytest.raises(NotAvailable, match="premium endpoint"):
        provider.fetch_chain("SPY", DAY)
    with AlphaVantageTestServer(premium=False) as srv:
        with pytest.raises(NotAvailable, match="artificial sample"):
            srv.provider().fetch_chain("SPY", DAY)
        assert srv.count(endpoint="daily") == 0  # nothing stored, no spot wasted


def test_rate_limit_answers_back_off_and_daily_budget_stops(av: AlphaVantageTestServer) -> None:
    av.add_fault(Fault("rate_note", times=2), endpoint="options")
    snap = av.provider().fetch_chain("SPY", DAY)
    assert len(snap.quotes) == 300 and snap.requests == 4  # 2 "Note" answers retried
    with AlphaVantageTestServer(rate_limit=1) as srv:
        snap = srv.provider(max_retries=1).fetch_chain("SPY", DAY)
        assert "put-call parity" in snap.underlying_price_source  # the series call was refused
        with pytest.raises(RateLimited, match="call frequency"):
            srv.provider(max_retries=2).fetch_chain("QQQ", DAY)
        assert srv.count() == 6
    with AlphaVantageTestServer(daily_limit=0) as srv:
        with pytest.raises(RateLimited, match="daily request budget"):
            srv.provider().fetch_chain("SPY", DAY)
        assert srv.count() == 1  # retrying cannot help


def test_answers_for_another_session_and_bad_rows(av: AlphaVantageTestServer) -> None:
    av.add_fault(Fault("other_session"))
    with pytest.raises(ProviderError, match="another session only; refusing"):
        av.provider().fetch_chain("SPY", DAY)
    av.add_fault(Fault("bad_row"))
    snap = av.provider().fetch_chain("SPY", DAY)
    assert snap.rejected == {"bad_strike": 1} and len(snap.quotes) == 300


def test_what_cannot_be_served_is_refused_before_any_request(av: AlphaVantageTestServer) -> None:
    provider = av.provider()
    with pytest.raises(NotAvailable, match="index"):
        provider.fetch_chain("SPX", DAY)
    with pytest.raises(NotAvailable, match="history starts on 2008-01-02"):
        provider.fetch_chain("SPY", date(2007, 12, 31))
    same_day = av.provider(now=lambda: datetime.combine(DAY, time(20, 0), tzinfo=NEW_YORK))
    with pytest.raises(NotAvailable, match="publishes"):
        same_day.fetch_chain("SPY", DAY)
    with pytest.raises(NoContracts, match="weekend"):
        provider.fetch_chain("SPY", date(2025, 12, 13))
    assert av.count() == 0


def test_a_wrong_key_is_unauthorized_and_the_key_is_never_shown(
    av: AlphaVantageTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(Unauthorized) as exc:
        av.provider(api_key="SECRET-wrong-av-key").fetch_chain("SPY", DAY)
    assert "apikey is invalid" in str(exc.value)
    with caplog.at_level(logging.DEBUG):
        av.provider().fetch_chain("SPY", DAY)
    assert av.requests[-1].key_in_url  # Alpha Vantage wants it in the query...
    lines = [r.getMessage() for r in caplog.records]
    assert any("/query" in line for line in lines)  # urllib3 logged the requests...
    assert not [line for line in lines if TEST_KEY in line or "SECRET-wrong-av-key" in line]


def test_a_slow_answer_is_retried_then_a_timeout(av: AlphaVantageTestServer) -> None:
    from options_pipeline.providers.base import ProviderTimeout

    av.add_fault(Fault("slow", times=None, delay=0.4), endpoint="options")
    with pytest.raises(ProviderTimeout, match="read timeout"):
        av.provider(read_timeout=0.2, max_retries=1).fetch_chain("SPY", DAY)
    assert av.count(endpoint="options") == 2 and av.count(endpoint="daily") == 0
