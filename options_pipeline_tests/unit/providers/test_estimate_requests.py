"""A provider's request estimate equals what fetch_chain then really sends (local server)."""

import math
from datetime import date

import pytest

from options_pipeline.providers.sample import SampleProvider
from options_pipeline_tests.polygon_server import PolygonTestServer

PAST, HOLIDAY, SATURDAY = date(2025, 3, 12), date(2025, 1, 1), date(2025, 3, 8)


# a page of one row: a smaller chain keeps it at a hundred-odd requests, not twelve hundred
@pytest.mark.parametrize(
    ("history_page", "snapshot_page", "contracts"), [(70, 50, 600), (600, 250, 600), (1, 250, 60)]
)
def test_polygon_estimate_matches_the_requests_sent(history_page, snapshot_page, contracts):
    with PolygonTestServer(contracts_per_symbol=contracts) as srv:
        for day in (PAST, srv.today):
            provider = srv.provider(
                history_page_limit=history_page, snapshot_page_limit=snapshot_page
            )
            srv.reset()
            snap = provider.fetch_chain("SPY", day)
            assert len(snap.quotes) == contracts
            expected = (
                math.ceil(contracts / snapshot_page)
                if day == srv.today
                else 2 * math.ceil(contracts / history_page)
            )  # open interest + analytics
            assert srv.count() == provider.requests_made == expected
            assert provider.estimate_requests("SPY", day, contracts) == expected


def test_polygon_estimate_is_zero_where_fetch_refuses_before_any_request(srv):
    provider = srv.provider()
    for day in (HOLIDAY, SATURDAY, date(2025, 3, 17)):  # closed, closed, after today
        assert provider.estimate_requests("SPY", day, 5000) == 0
    assert srv.count() == 0


def test_polygon_exposes_its_rate_limit(srv):
    provider = srv.provider(rate_limit_per_minute=5)
    assert provider.rate_limit_per_minute == 5
    assert provider.request_interval_seconds == pytest.approx(12 * 1.02)  # 2% limiter headroom


def test_sample_provider_sends_nothing():
    assert SampleProvider().estimate_requests("SPY", PAST, 6000) == 0


def test_vendor_estimates_match_the_requests_sent(theta, orats, av):
    day, closed = date(2025, 12, 18), date(2025, 12, 25)
    for srv, symbols in ((theta, ("SPY", "SPX")), (orats, ("SPY",)), (av, ("SPY",))):
        provider = srv.provider()
        for symbol in symbols:
            expected = provider.estimate_requests(symbol, day, 300)
            before = srv.count()
            provider.fetch_chain(symbol, day)
            assert srv.count() - before == expected > 0
            assert provider.estimate_requests(symbol, closed, 300) == 0
    assert av.provider().estimate_requests("SPX", day, 300) == 0  # indexes are refused
    # ORATS: a chain at the row cap costs the first answer plus one request per dte window
    assert orats.provider(row_cap=100).estimate_requests("SPY", day, 200) == 6
