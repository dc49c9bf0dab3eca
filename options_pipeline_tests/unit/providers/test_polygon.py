"""Polygon provider against the local Polygon server: honest dates, pagination, rows, errors."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
    Unauthorized,
)
from options_pipeline.providers.polygon import PolygonProvider
from options_pipeline.providers.sample import sample_chain
from options_pipeline_tests.polygon_server import (
    PLAN_MESSAGE,
    Fault,
    PolygonTestServer,
)

YESTERDAY = date(2025, 3, 13)


def test_current_session_uses_all_snapshot_pages(srv: PolygonTestServer) -> None:
    srv.contracts_per_symbol = 1300
    provider = srv.provider()
    snap = provider.fetch_chain("SPY", srv.today)
    expected = sample_chain("SPY", srv.today, 1300)
    assert len(snap.quotes) == 1300 and snap.rejected == {}
    assert snap.requests == math.ceil(1300 / 250) == srv.count(endpoint="snapshot")
    assert provider.requests_made == snap.requests
    assert srv.count(endpoint="analytics") == srv.count(
        endpoint="open_interest") == 0  # fmt: skip
    first = srv.requests[0]
    assert first.query == {"limit": "250"} and first.auth == "bearer"
    assert all(set(r.query) == {"cursor"} for r in srv.requests[1:])
    # the same market, field by field, after Polygon's JSON round trip
    by_symbol = {q.contract_symbol: q for q in snap.quotes}
    for q in expected.quotes:
        got = by_symbol[q.contract_symbol]
        assert not got.contract_symbol.startswith("O:")
        assert (got.expiration_date, got.strike, got.option_type) == (
            q.expiration_date, q.strike, q.option_type)  # fmt: skip
        assert (got.bid, got.ask, got.open_interest, got.volume) == (
            q.bid, q.ask, q.open_interest, q.volume)  # fmt: skip
        if got.delta is not None:  # absent for deep ITM, as on Polygon
            assert got.gamma == q.gamma and got.delta == q.delta
    assert sum(q.delta is None for q in snap.quotes) > 0
    assert snap.underlying_price == expected.underlying_price
    assert snap.underlying_price_source == "polygon:snapshot.underlying_asset.price"
    assert snap.provider_mark_time is not None
    assert snap.provider == "polygon" and snap.as_of == srv.today


def test_historical_date_never_touches_the_snapshot(srv: PolygonTestServer) -> None:
    provider = srv.provider(history_page_limit=250)
    snap = provider.fetch_chain("QQQ", YESTERDAY)
    expected = sample_chain("QQQ", YESTERDAY, 600)
    assert srv.count(endpoint="snapshot") == 0
    assert srv.count(endpoint="open_interest", symbol="QQQ", day=YESTERDAY) == 3
    assert srv.count(endpoint="analytics", symbol="QQQ", day=YESTERDAY) == 3
    assert snap.requests == 6
    assert {r.query.get("date") for r in srv.requests if "cursor" not in r.query} == {
        "2025-03-13"}  # fmt: skip
    assert len(snap.quotes) == 600 and snap.rejected == {}
    assert snap.underlying_price == expected.underlying_price
    assert snap.underlying_price_source == "polygon:options/v1/analytics.underlying_price"
    got = {q.contract_symbol: q for q in snap.quotes}
    for q in expected.quotes:
        h = got[q.contract_symbol]
        assert (h.open_interest, h.gamma, h.implied_volatility) == (
            q.open_interest, q.gamma, q.implied_volatility)  # fmt: skip
        assert h.bid is None and h.ask is None  # not in the end-of-day endpoints


def test_history_plan_error_is_not_available_with_message(
    srv: PolygonTestServer,
) -> None:
    srv.add_fault(Fault.plan_error(), endpoint="analytics")
    with pytest.raises(NotAvailable, match="Your plan doesn't include this data timeframe") as e:
        srv.provider().fetch_chain("SPY", YESTERDAY)
    assert e.value.request_id
    assert srv.count(endpoint="snapshot") == 0


def test_open_interest_not_yet_published_is_not_available(
    srv: PolygonTestServer,
) -> None:
    srv.add_fault(Fault.empty(), endpoint="open_interest")
    with pytest.raises(NotAvailable, match="open interest for SPY on 2025-03-13"):
        srv.provider().fetch_chain("SPY", YESTERDAY)
    assert srv.count(endpoint="snapshot") == 0


def test_history_rows_for_another_date_are_refused(srv: PolygonTestServer) -> None:
    other = [{"ticker": "O:SPY250321C00550000", "date": "2025-03-12", "open_interest": 5,
              "delta": 0.5}]  # fmt: skip
    srv.add_fault(Fault.extra_rows(other), endpoint="open_interest")
    srv.add_fault(Fault.extra_rows(other), endpoint="analytics")
    snap = srv.provider().fetch_chain("SPY", YESTERDAY)
    assert snap.rejected == {"wrong_date": 2} and len(snap.quotes) == 600


def test_history_field_names_that_do_not_match_are_a_shape_error(
    srv: PolygonTestServer,
) -> None:
    srv.add_fault(Fault.rename_field("ticker", "contract"), endpoint="analytics")
    with pytest.raises(ProviderError, match="unexpected response shape from /options/v1/analytics"):
        srv.provider().fetch_chain("SPY", YESTERDAY)


def test_future_date_is_not_available_without_requests(srv: PolygonTestServer) -> None:
    with pytest.raises(NotAvailable, match="after today"):
        srv.provider().fetch_chain("SPY", date(2025, 3, 17))
    assert srv.count() == 0


@pytest.mark.parametrize("day", [date(2025, 3, 15), date(2025, 1, 20)])
def test_closed_days_are_no_contracts_without_requests(
    srv: PolygonTestServer, day: date
) -> None:
    with pytest.raises(NoContracts, match=f"no trading on {day.isoformat()}"):
        srv.provider().fetch_chain("SPY", day)
    assert srv.count() == 0


def test_malformed_and_partial_rows_are_dropped_and_counted(
    srv: PolygonTestServer,
) -> None:
    def row(**details: object) -> dict[str, object]:
        base = {"contract_type": "call", "expiration_date": "2025-04-17", "strike_price": 700.0,
                "ticker": "O:SPY250417C00700000", "shares_per_contract": 100}  # fmt: skip
        base.update(details)
        return {"details": base, "open_interest": 10, "last_quote": {"bid": 1.0, "ask": 1.1}}

    bad = [
        row(strike_price=None),  # missing strike
        {**row(), "last_quote": {"bid": -1.0, "ask": 1.0}},  # negative price
        row(expiration_date="2025-02-30"),  # bad date
        {**row(), "implied_volatility": math.nan},  # NaN (sent as a JSON NaN token)
        row(expiration_date="2025-03-07"),  # expired
        row(contract_type="warrant"),
        "not an object",
        {"open_interest": 5},  # no details block
        {**row(strike_price=701.0), "greeks": None, "day": None},  # partial but valid: kept
    ]
    srv.add_fault(Fault.extra_rows(bad, page=2), symbol="SPY")
    srv.add_fault(Fault.repeat_rows(7, page=3), symbol="SPY")  # pages repeat rows
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert snap.rejected == {
        "bad_expiration": 1, "bad_option_type": 1, "duplicate": 7, "expired": 1,
        "malformed_row": 2, "missing_strike": 1, "negative_price": 1, "non_finite": 1,
    }  # fmt: skip
    assert snap.rejected_count == 15
    assert len(snap.quotes) == 601
    kept = next(q for q in snap.quotes if q.strike == 701.0)
    assert kept.delta is None and kept.volume is None and kept.open_interest == 10


def test_empty_chain_is_no_contracts(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.empty(), symbol="SPY")
    with pytest.raises(NoContracts, match="no contracts for SPY on 2025-03-14"):
        srv.provider().fetch_chain("SPY", srv.today)
    assert srv.provider().fetch_chain("QQQ", srv.today).quotes


def test_wrong_shape_is_an_error_not_zero_contracts(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.wrong_shape())
    with pytest.raises(ProviderError, match="unexpected response shape from /v3/snapshot") as e:
        srv.provider().fetch_chain("SPY", srv.today)
    assert not isinstance(e.value, NoContracts) and e.value.request_id


def test_401_is_unauthorized(srv: PolygonTestServer) -> None:
    with pytest.raises(Unauthorized, match="API Key was not provided"):
        srv.provider(api_key="wrong-key").fetch_chain("SPY", srv.today)
    srv.add_fault(Fault.unauthorized())
    with pytest.raises(Unauthorized, match="Unknown API Key"):
        srv.provider().fetch_chain("SPY", srv.today)


def test_403_is_not_available_with_the_plan_message(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.plan_error())
    with pytest.raises(NotAvailable) as e:
        srv.provider().fetch_chain("SPY", srv.today)
    assert PLAN_MESSAGE in str(e.value) and e.value.reason == "not_available"


def test_built_from_the_resource_settings(srv: PolygonTestServer) -> None:
    provider = srv.resource().build_provider()
    assert isinstance(provider, PolygonProvider)
    assert len(provider.fetch_chain("AAPL", srv.today - timedelta(days=1)).quotes) == 600
    provider.close()


def test_missing_key_fails_at_construction() -> None:
    with pytest.raises(ProviderConfigError, match="POLYGON_API_KEY is not set"):
        PolygonProvider(api_key=None)


def test_invalid_symbol(srv: PolygonTestServer) -> None:
    with pytest.raises(ProviderError, match="invalid underlying symbol"):
        srv.provider().fetch_chain("../etc", srv.today)
    assert srv.count() == 0
