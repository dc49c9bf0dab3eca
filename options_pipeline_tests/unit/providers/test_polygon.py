"""Polygon provider against the local Polygon server: honest dates, pagination, rows, errors."""

from __future__ import annotations

import logging
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
from options_pipeline.providers.normalize import parse_occ
from options_pipeline.providers.polygon import HISTORY_PAGE_LIMIT_DOCUMENTED, PolygonProvider
from options_pipeline.providers.sample import sample_chain
from options_pipeline_tests.polygon_server import (
    ANALYTICS,
    PLAN_MESSAGE,
    Fault,
    PolygonTestServer,
    split_roots,
)

YESTERDAY = date(2025, 3, 13)
BEFORE = date(2025, 3, 12)  # the session before YESTERDAY


def test_current_session_uses_all_snapshot_pages(srv: PolygonTestServer) -> None:
    srv.contracts_per_symbol = 1300
    provider = srv.provider()
    snap = provider.fetch_chain("SPY", srv.today)
    expected = sample_chain("SPY", srv.today, 1300)
    assert len(snap.quotes) == 1300 and snap.rejected == {}
    assert snap.requests == math.ceil(1300 / 250) == srv.count(endpoint="snapshot")
    assert provider.requests_made == snap.requests
    assert srv.count(endpoint="analytics") == srv.count(endpoint="open_interest") == 0
    first = srv.requests[0]
    assert first.query == {"limit": "250"} and first.auth == "bearer"
    assert all(set(r.query) == {"cursor"} for r in srv.requests[1:])
    # the same market, field by field, after Polygon's JSON round trip
    by_symbol = {q.contract_symbol: q for q in snap.quotes}
    for q in expected.quotes:
        got = by_symbol[q.contract_symbol]
        assert not got.contract_symbol.startswith("O:")
        assert (got.expiration_date, got.strike, got.option_type) == (
            q.expiration_date,
            q.strike,
            q.option_type,
        )
        assert (got.bid, got.ask, got.open_interest, got.volume) == (
            q.bid,
            q.ask,
            q.open_interest,
            q.volume,
        )
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
    known_at_open = sample_chain("QQQ", BEFORE, 600)  # OI for the session before D
    assert srv.count(endpoint="snapshot") == 0
    assert srv.count(endpoint="analytics", symbol="QQQ", day=YESTERDAY) == 3
    assert srv.count(endpoint="open_interest", symbol="QQQ", day=BEFORE) == 3
    assert srv.count(endpoint="open_interest", day=YESTERDAY) == 0
    assert snap.requests == 6
    first_pages = [r for r in srv.requests if "cursor" not in r.query]
    assert {(r.endpoint, r.query["date"]) for r in first_pages} == {
        ("analytics", "2025-03-13"),
        ("open_interest", "2025-03-12"),
    }
    assert snap.open_interest_as_of == BEFORE
    assert snap.open_interest_source == "polygon:options/v1/open-interest"
    oi_before = {q.contract_symbol: q.open_interest for q in known_at_open.quotes}
    listed = {q.contract_symbol for q in expected.quotes}  # the chain of D is D's listing
    assert len(snap.quotes) == len(listed) == 600 and snap.merged == 0
    assert snap.rejected == {"not_listed": len(set(oi_before) - listed)}  # OI of other contracts
    assert snap.underlying_price == expected.underlying_price
    assert snap.underlying_price_source == "polygon:options/v1/analytics.underlying_price"
    got = {q.contract_symbol: q for q in snap.quotes}
    for q in expected.quotes:
        h = got[q.contract_symbol]
        assert (h.open_interest, h.gamma, h.implied_volatility) == (
            oi_before.get(q.contract_symbol),
            q.gamma,
            q.implied_volatility,
        )
        assert h.bid is None and h.ask is None  # not in the end-of-day endpoints
    assert sum(got[t].open_interest is not None for t in oi_before if t in got) > 100


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
    with pytest.raises(
        NotAvailable,
        match="open interest for SPY for session 2025-03-12 "
        r"\(known at the open of 2025-03-13\)",
    ):
        srv.provider().fetch_chain("SPY", YESTERDAY)
    assert srv.count(endpoint="snapshot") == 0


def test_history_rows_for_another_date_are_refused(srv: PolygonTestServer) -> None:
    def other(day: str) -> list[dict[str, object]]:
        return [{"ticker": "O:SPY250321C00550000", "date": day, "open_interest": 5, "delta": 0.5}]

    # OI is asked for 03-12: a figure for D itself (03-13) is another session's, like D-2's
    srv.add_fault(
        Fault.extra_rows(other("2025-03-13") + other("2025-03-11")), endpoint="open_interest"
    )
    srv.add_fault(Fault.extra_rows(other("2025-03-12")), endpoint="analytics")
    snap = srv.provider().fetch_chain("SPY", YESTERDAY)
    assert snap.rejected["wrong_date"] == 3 and len(snap.quotes) == 600


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
def test_closed_days_are_no_contracts_without_requests(srv: PolygonTestServer, day: date) -> None:
    with pytest.raises(NoContracts, match=f"no trading on {day.isoformat()}"):
        srv.provider().fetch_chain("SPY", day)
    assert srv.count() == 0


def test_malformed_and_partial_rows_are_dropped_and_counted(
    srv: PolygonTestServer,
) -> None:
    def row(**details: object) -> dict[str, object]:
        base = {
            "contract_type": "call",
            "expiration_date": "2025-04-17",
            "strike_price": 700.0,
            "ticker": "O:SPY250417C00700000",
            "shares_per_contract": 100,
        }
        base.update(details)
        return {"details": base, "open_interest": 10, "last_quote": {"bid": 1.0, "ask": 1.1}}

    bad = [
        row(strike_price=None),  # missing strike
        {**row(), "last_quote": {"bid": -1.0, "ask": 1.0}},  # negative price
        row(expiration_date="2025-02-30"),  # bad date
        {**row(), "implied_volatility": math.nan},  # NaN (sent as a JSON NaN token)
        row(expiration_date="2025-03-07"),  # expired
        row(contract_type="warrant"),
        row(contract_type=["call"]),  # not a string (not even hashable)
        "not an object",
        {"open_interest": 5},  # no details block
        {**row(strike_price=701.0), "greeks": None, "day": None},  # partial but valid: kept
    ]
    srv.add_fault(Fault.extra_rows(bad, page=2), symbol="SPY")
    srv.add_fault(Fault.repeat_rows(7, page=3), symbol="SPY")  # pages repeat rows
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert snap.rejected == {
        "bad_expiration": 1,
        "bad_option_type": 2,
        "duplicate": 7,
        "expired": 1,
        "malformed_row": 2,
        "missing_strike": 1,
        "negative_price": 1,
        "non_finite": 1,
    }
    assert snap.rejected_count == 16
    assert len(snap.quotes) == 601
    kept = next(q for q in snap.quotes if q.strike == 701.0)
    assert kept.delta is None and kept.volume is None and kept.open_interest == 10


def test_well_typed_rows_that_break_a_rule_are_counted_on_the_column_path(
    srv: PolygonTestServer,
) -> None:
    """Rows of plain JSON numbers and strings keep a page on the column path; the rules still
    drop and count each bad row by the first rule it breaks (the same reasons as row by row)."""

    def row(strike: float = 700.0, **top: object) -> dict[str, object]:
        details = {
            "contract_type": "call",
            "expiration_date": "2025-04-17",
            "strike_price": strike,
            "ticker": f"O:SPY250417C{round(strike * 1000):08d}",
            "shares_per_contract": top.pop("shares_per_contract", 100),
        }
        quote = {"bid": top.pop("bid", 1.0), "ask": 1.1, "last_updated": 1741982400000000000}
        return {"details": details, "open_interest": 10, "last_quote": quote, **top}

    bad = [
        row(701.0, bid=-1.0),  # negative_price
        row(702.0, open_interest=-3),  # negative_size
        row(703.0, open_interest=2.5),  # bad_number: a fractional size
        row(704.0, implied_volatility=-0.2),  # negative_iv
        row(705.0, shares_per_contract=0),  # bad_multiplier
        row(-1.0),  # bad_strike
        {**row(706.0), "details": {**row(706.0)["details"], "expiration_date": "2025-03-07"}},
        row(707.0, greeks=None, day={"close": 2.0, "volume": 4}),  # valid: kept
    ]
    srv.add_fault(Fault.extra_rows(bad, page=2), symbol="SPY")
    snap = srv.provider().fetch_chain("SPY", srv.today)
    assert snap.rejected == {
        "bad_multiplier": 1,
        "bad_number": 1,
        "bad_strike": 1,
        "expired": 1,
        "negative_iv": 1,
        "negative_price": 1,
        "negative_size": 1,
    }
    assert len(snap.quotes) == 601
    kept = next(q for q in snap.quotes if q.strike == 707.0)
    assert (kept.last, kept.volume, kept.open_interest, kept.delta) == (2.0, 4, 10, None)
    assert kept.multiplier == 100 and kept.contract_symbol == "SPY250417C00707000"


def test_latest_epoch_of_a_page_matches_the_per_value_rule() -> None:
    """The column path's mark time: the latest of epoch_to_datetime over values in mixed units
    (s, ms, us, ns), with out-of-range and absent values ignored."""
    import numpy as np

    from options_pipeline.providers.normalize import epoch_to_datetime
    from options_pipeline.providers.polygon import _latest_epoch

    values = [1.7e9, 1.74e12, 1.741e15, 1.741982e18, 5.0, 9e20, math.nan, 1.6e18]
    expected = max(d for v in values if (d := epoch_to_datetime(v)) is not None)
    assert _latest_epoch(np.array(values)) == expected
    assert _latest_epoch(np.array([math.nan, 3.0])) is None


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
    with pytest.raises(ProviderConfigError, match="export MASSIVE_API_KEY"):
        PolygonProvider(api_key=None)


def test_invalid_symbol(srv: PolygonTestServer) -> None:
    with pytest.raises(ProviderError, match="invalid underlying symbol"):
        srv.provider().fetch_chain("../etc", srv.today)
    assert srv.count() == 0


# --------------------------------------------------------------------------- roots, indices, OI


def test_index_history_asks_plain_ticker_every_root_and_the_previous_sessions_oi(
    srv: PolygonTestServer,
) -> None:
    snap = srv.provider(history_page_limit=250).fetch_chain("^SPX", YESTERDAY)
    assert snap.symbol == "SPX"
    asked = {
        (r.endpoint, r.query.get("underlying_ticker") or r.query.get("root"), r.query["date"])
        for r in srv.requests
        if "cursor" not in r.query
    }
    assert asked == {
        ("analytics", "SPX", "2025-03-13"),
        ("open_interest", "SPX", "2025-03-12"),
        ("open_interest", "SPXW", "2025-03-12"),
    }
    # oracle: the sample market of the session before, as OPRA lists it per root
    before = split_roots(sample_chain("SPX", BEFORE, 600))
    today_rows = split_roots(sample_chain("SPX", YESTERDAY, 600))
    oi_by_identity: dict[tuple, int] = {}
    for q in before:
        oi_by_identity[q.identity] = oi_by_identity.get(q.identity, 0) + (q.open_interest or 0)
    tickers = {q.contract_symbol for q in today_rows}  # D's listing, both roots
    identities = {parse_occ(t)[1:] for t in tickers}  # type: ignore[index]
    assert len(snap.quotes) == len(identities)
    assert snap.merged == len(tickers) - len(identities) > 0
    roots = {parse_occ(t)[0] for t in tickers}  # type: ignore[index]
    assert roots == {"SPX", "SPXW"}
    for q in snap.quotes:
        assert q.open_interest == oi_by_identity.get(q.identity)  # both roots summed
    monthly = [q for q in snap.quotes if q.expiration_date == date(2025, 3, 21)]
    assert sum(q.open_interest is not None for q in monthly) > 20  # both roots' OI, summed
    assert snap.open_interest_as_of == BEFORE


def test_index_snapshot_uses_the_I_prefix_and_merges_roots(srv: PolygonTestServer) -> None:
    snap = srv.provider().fetch_chain("I:SPX", srv.today)
    assert {r.path for r in srv.requests if "cursor" not in r.query} == {
        "/v3/snapshot/options/I:SPX"
    }
    rows = split_roots(sample_chain("SPX", srv.today, 600))
    assert snap.symbol == "SPX" and snap.merged == len(rows) - len({q.identity for q in rows}) > 0
    assert snap.open_interest_as_of == YESTERDAY  # "held at the end of the last trading day"
    assert snap.open_interest_source == "polygon:snapshot.open_interest"


def test_the_server_refuses_an_index_prefix_where_the_docs_say_plain(
    srv: PolygonTestServer,
) -> None:
    http = srv.provider()._http
    for path, params in (
        (ANALYTICS, {"underlying_ticker": "I:SPX", "date": "2025-03-13"}),
        ("/v3/snapshot/options/SPX", {}),
    ):
        assert http.get_json(path, params)["results"] == []


def test_page_size_400_falls_back_to_the_documented_cap_once(
    srv: PolygonTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    provider = srv.provider()  # asks 5000 first; the server caps at 999
    with caplog.at_level(logging.WARNING, logger="options_pipeline.providers.polygon"):
        first = provider.fetch_chain("SPY", YESTERDAY)
        second = provider.fetch_chain("QQQ", YESTERDAY)
    refused = srv.requests_for(status=400)
    assert [(r.endpoint, r.query["limit"]) for r in refused] == [("analytics", "5000")]
    assert {r.query["limit"] for r in srv.requests if r.status == 200 and "limit" in r.query} == {
        "999"
    }
    assert provider.history_page_limit == HISTORY_PAGE_LIMIT_DOCUMENTED == 999
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "limit=5000" in warnings[0] and "999" in warnings[0]
    assert first.requests == 3 and second.requests == 2  # 400 + analytics + OI, then 2
    assert len(first.quotes) >= 600 and len(second.quotes) >= 600


def test_page_size_refused_below_the_documented_cap_is_an_error(srv: PolygonTestServer) -> None:
    srv.history_limit_cap = 500
    with pytest.raises(ProviderError, match=r"HTTP 400 .*limit must be less than or equal to 500"):
        srv.provider().fetch_chain("SPY", YESTERDAY)
    assert srv.count(status=400) == 2  # 5000, then 999 once; never a guess below it


def test_check_reports_fields_and_requests(srv: PolygonTestServer) -> None:
    provider = srv.provider()
    report = provider.check("SPX", YESTERDAY)
    assert report.ok and report.requests == 3 == srv.count()
    names = [e.name for e in report.endpoints]
    assert names == ["analytics", "open_interest", "snapshot"]
    oi = report.endpoints[1]
    assert "root=SPX" in oi.request and "date=2025-03-12" in oi.request
    assert ("open_interest", "open_interest") in oi.matched and oi.missing == ()
    assert report.endpoints[2].request.startswith("/v3/snapshot/options/I:SPX")
    assert "delta" in report.endpoints[0].fields_seen


def test_check_names_missing_fields_and_plan_errors(srv: PolygonTestServer) -> None:
    srv.add_fault(Fault.rename_field("open_interest", "openInterest"), endpoint="open_interest")
    srv.add_fault(Fault.plan_error(), endpoint="snapshot")
    report = srv.provider().check("SPY", YESTERDAY)
    assert not report.ok
    analytics, oi, snapshot = report.endpoints
    assert analytics.ok and not oi.ok and oi.missing == ("open_interest",)
    assert "openInterest" in oi.fields_seen
    assert snapshot.error and "HTTP 403" in snapshot.status and PLAN_MESSAGE in snapshot.status
    text = report.render()
    assert "[FAIL] open_interest" in text and "missing (required): open_interest" in text
    assert "requests used: 3" in text and srv.api_key not in text
