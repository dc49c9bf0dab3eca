"""ORATS provider against the local stand-in: call/put split, IV fallback, cap, errors, token."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

import pytest

from options_pipeline.providers.base import (
    NoContracts,
    NotAvailable,
    ProviderConfigError,
    ProviderError,
    RateLimited,
    Unauthorized,
)
from options_pipeline.providers.history import NEW_YORK
from options_pipeline.providers.orats import OratsProvider
from options_pipeline.providers.sample import profile
from options_pipeline_tests.orats_server import TEST_TOKEN, OratsTestServer
from options_pipeline_tests.stand_in import Fault

DAY = date(2025, 12, 18)


def test_rows_split_into_calls_and_puts_matching_the_market(orats: OratsTestServer) -> None:
    snap = orats.provider().fetch_chain("SPY", DAY)
    expected = orats.chain("SPY", DAY)
    assert expected is not None
    assert len(snap.quotes) == len(expected.quotes) and snap.rejected == {}
    assert snap.requests == 1 == orats.count()
    assert orats.requests[0].query == {"ticker": "SPY", "tradeDate": "2025-12-18"}
    got = {q.identity: q for q in snap.quotes}
    calls = {q.identity[:2]: q for q in expected.quotes if q.option_type == "C"}
    q_div = profile("SPY").dividend_yield
    for q in expected.quotes:
        g = got[q.identity]
        assert g.contract_symbol == q.contract_symbol
        assert (g.bid, g.ask, g.volume, g.open_interest) == (
            q.bid,
            q.ask,
            q.volume,
            q.open_interest,
        )
        assert g.implied_volatility == q.implied_volatility  # the side's own mid IV
        assert g.last is None  # ORATS has no last price
        call = calls[q.identity[:2]]
        assert g.gamma == call.gamma and g.vega == call.vega  # one set of greeks per row
        if q.option_type == "C":
            assert g.delta == q.delta and g.theta == q.theta
        else:
            assert g.delta == pytest.approx(call.delta - 1.0)
            # oracle: the market's own put delta, within the carry (q*T) and the call/put IV skew
            t = ((q.expiration_date - DAY).days + 0.3) / 365
            assert abs(g.delta - q.delta) <= q_div * t + 0.05
            assert g.theta is None
    assert snap.underlying_price == expected.underlying_price
    assert snap.underlying_price_source == "orats:hist/strikes.stockPrice"
    assert snap.provider_mark_time == datetime(2025, 12, 18, 20, 46, tzinfo=UTC)
    # open interest stored for D is the figure known at D's open: the end of the previous session
    assert snap.open_interest_as_of == date(2025, 12, 17)
    assert (snap.open_interest_source or "").startswith("orats:hist/strikes")


def test_mid_iv_of_zero_falls_back_to_smoothed_vol(orats: OratsTestServer) -> None:
    orats.add_fault(Fault("zero_mid_iv"))
    snap = orats.provider().fetch_chain("SPY", DAY)
    expected = orats.chain("SPY", DAY)
    assert expected is not None
    by_pair: dict[tuple[date, float], list[float]] = {}
    for q in expected.quotes:
        by_pair.setdefault(q.identity[:2], []).append(q.implied_volatility or 0.0)
    for g in snap.quotes:
        assert g.implied_volatility == pytest.approx(sum(by_pair[g.identity[:2]]) / 2, abs=1e-6)


def test_an_answer_at_the_row_cap_is_asked_again_by_dte_window() -> None:
    with OratsTestServer(row_cap=40, contracts_per_symbol=400) as srv:
        snap = srv.provider(row_cap=40).fetch_chain("QQQ", DAY)
        expected = srv.chain("QQQ", DAY)
        assert expected is not None
        assert {q.identity for q in snap.quotes} == {q.identity for q in expected.quotes}
        assert snap.rejected == {} and snap.requests == srv.count() > 5
        windows = [r.query.get("dte") for r in srv.requests[1:]]
        assert windows[:2] == ["0,7", "8,30"] and windows[-1] == "366,100000"


def test_orats_errors(orats: OratsTestServer) -> None:
    provider = orats.provider()
    orats.add_fault(Fault("plan"))
    with pytest.raises(NotAvailable, match=r"(?i)not authorized"):
        provider.fetch_chain("SPY", DAY)
    orats.add_fault(Fault("wrong_shape"))
    with pytest.raises(ProviderError, match="'data' is dict"):
        provider.fetch_chain("SPY", DAY)
    orats.add_fault(Fault("wrong_date"))
    with pytest.raises(ProviderError, match="other dates only"):
        provider.fetch_chain("SPY", DAY)
    orats.add_fault(Fault("server_error", times=1))
    assert provider.fetch_chain("SPY", DAY).requests == 2  # a 500 is retried
    with pytest.raises(Unauthorized):
        orats.provider(api_token="wrong-token").fetch_chain("SPY", DAY)
    with pytest.raises(ProviderConfigError, match="ORATS_API_TOKEN"):
        orats.provider(api_token=" ")


def test_a_session_without_rows_is_no_contracts_and_old_dates_are_refused(
    orats: OratsTestServer,
) -> None:
    provider = orats.provider()
    orats.add_fault(Fault("empty"))
    with pytest.raises(NoContracts, match="empty 'data'"):
        provider.fetch_chain("SPY", DAY)
    with pytest.raises(NotAvailable, match="history starts on 2007-01-03"):
        provider.fetch_chain("SPY", date(2006, 12, 29))
    late = orats.provider(now=lambda: datetime.combine(DAY, time(15, 0), tzinfo=NEW_YORK))
    with pytest.raises(NotAvailable, match="publishes"):
        late.fetch_chain("SPY", DAY)
    assert orats.count() == 1


def test_the_token_never_reaches_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    with OratsTestServer(rate_limit=1) as srv:
        provider = srv.provider(max_retries=1)
        with caplog.at_level(logging.DEBUG):
            provider.fetch_chain("SPY", DAY)
            with pytest.raises(RateLimited) as limited:
                provider.fetch_chain("QQQ", DAY)
        assert all(r.key_in_url for r in srv.requests)  # ORATS wants it in the query...
        base = srv.base_url
    stopped = OratsProvider(api_token=TEST_TOKEN, base_url=base, max_retries=0, now=srv.now)
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as refused:
        stopped.fetch_chain("SPY", DAY)  # the server is gone: a connection error
    urllib3_lines = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert urllib3_lines and any("/datav2/hist/strikes" in r.getMessage() for r in urllib3_lines)
    for text in [r.getMessage() for r in caplog.records] + [str(limited.value), str(refused.value)]:
        assert TEST_TOKEN not in text  # ...but never in a log line or an error
    assert refused.value.__cause__ is None  # requests' exception text names the URL


def test_a_slow_answer_is_retried_then_a_timeout(orats: OratsTestServer) -> None:
    from options_pipeline.providers.base import ProviderTimeout

    orats.add_fault(Fault("slow", times=1, delay=0.4))
    assert orats.provider(read_timeout=0.2).fetch_chain("SPY", DAY).requests == 2
    orats.add_fault(Fault("slow", times=None, delay=0.4))
    with pytest.raises(ProviderTimeout, match="read timeout"):
        orats.provider(read_timeout=0.2, max_retries=1).fetch_chain("SPY", DAY)


@pytest.mark.parametrize("fault", [None, "zero_mid_iv"])
def test_the_column_path_gives_the_per_row_result(
    orats: OratsTestServer, monkeypatch: pytest.MonkeyPatch, fault: str | None
) -> None:
    """A clean answer is read column-wise; the same answer read row by row (the path every
    answer with an odd row takes) gives the same contracts, counts, spot and mark time."""
    import options_pipeline.providers.orats as orats_module

    if fault:
        orats.add_fault(Fault(fault, times=None))
    real, read = orats_module._strike_columns, []

    def spy(rows: list[object], root: str, as_of: date) -> object:
        read.append(real(rows, root, as_of))
        return read[-1]

    monkeypatch.setattr(orats_module, "_strike_columns", spy)
    columns = orats.provider().fetch_chain("SPY", DAY)
    assert read and read[0] is not None  # it was read column-wise
    monkeypatch.setattr(orats_module, "_strike_columns", lambda rows, root, as_of: None)
    rows = orats.provider().fetch_chain("SPY", DAY)
    assert columns.columns.equals(rows.columns)
    assert (columns.rejected, columns.merged) == (rows.rejected, rows.merged)
    assert columns.underlying_price == rows.underlying_price is not None
    assert columns.provider_mark_time == rows.provider_mark_time is not None
