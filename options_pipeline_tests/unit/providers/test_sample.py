"""The sample market: deterministic, realistic enough, closed on holidays, BS greeks correct."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from scipy.stats import norm

from options_pipeline.providers.base import NoContracts, ProviderConfigError
from options_pipeline.providers.sample import (
    RISK_FREE,
    SampleProvider,
    bs_greeks,
    bs_price,
    profile,
    sample_chain,
    spot_price,
)

D = date(2025, 3, 14)


def test_same_inputs_same_snapshot() -> None:
    a = sample_chain("SPY", D, 2000)
    b = sample_chain("SPY", D, 2000)
    assert a == b
    assert SampleProvider(contracts_per_symbol=2000).fetch_chain("SPY", D) == a


def test_different_dates_different_spot_and_walk_is_path_independent() -> None:
    later = date(2025, 6, 13)
    s_later_first = spot_price("QQQ", later)
    s1, s2 = spot_price("QQQ", D), spot_price("QQQ", later)
    assert s1 != s2
    assert s_later_first == s2
    assert sample_chain("QQQ", D, 100).underlying_price == s1  # independent of chain size
    assert sample_chain("QQQ", D, 3000).underlying_price == s1
    assert sample_chain("QQQ", D, 100).quotes != sample_chain("QQQ", D + timedelta(3), 100).quotes


def test_plausible_start_prices() -> None:
    anchor = date(2025, 1, 2)
    assert spot_price("SPY", anchor) == 600.0
    assert spot_price("QQQ", anchor) == 520.0
    assert spot_price("IWM", anchor) == 240.0
    assert spot_price("AAPL", anchor) == 230.0
    assert 20.0 <= spot_price("ZZTOP", anchor) <= 500.0
    # a year of daily moves stays in a believable band
    assert 400 < spot_price("SPY", D) < 800


def test_realistic_shape() -> None:
    snap = sample_chain("SPY", D, 6000)
    spot = snap.underlying_price
    assert spot is not None
    quotes = snap.quotes
    assert abs(len(quotes) - 6000) <= 60
    assert Counter(q.option_type for q in quotes) == {"C": len(quotes) // 2, "P": len(quotes) // 2}
    exps = sorted({q.expiration_date for q in quotes})
    assert exps[0] >= D and 300 <= (exps[-1] - D).days <= 400
    assert len(exps) >= 15
    strikes = np.array([q.strike for q in quotes])
    assert abs(np.median(strikes) / spot - 1) < 0.1
    near = [q for q in quotes if q.expiration_date == exps[0]]
    assert min(abs(q.strike - spot) for q in near) <= 1.0  # $1 strikes near the money
    assert all(q.bid is not None and q.ask is not None and 0 <= q.bid < q.ask for q in quotes)
    assert len({q.contract_symbol for q in quotes}) == len(quotes)

    # open interest: near the money, round strikes, near-dated expiries
    oi = np.array([q.open_interest for q in quotes], dtype=float)
    money = np.abs(np.log(strikes / spot))
    assert oi[money < 0.05].mean() > 3 * oi[money > 0.2].mean()
    nearby = money < 0.08
    round_ = np.array([q.strike % 10 == 0 for q in quotes]) & nearby
    odd = np.array([q.strike % 5 != 0 for q in quotes]) & nearby
    assert oi[round_].mean() > 1.2 * oi[odd].mean()
    per_expiry: Counter[date] = Counter()
    for q in quotes:
        per_expiry[q.expiration_date] += q.open_interest or 0
    assert per_expiry.most_common(1)[0][0] < D + timedelta(days=45)
    assert per_expiry[exps[1]] > per_expiry[exps[-1]]
    assert 5e6 < oi.sum() < 1e8

    # skew: one-month 90% put richer than 110% call
    month = min((e for e in exps if (e - D).days >= 25), key=lambda e: (e - D).days)
    by_k = {(q.strike, q.option_type): q for q in quotes if q.expiration_date == month}

    def iv_at(k: float, cp: str) -> float:
        key = min((x for x in by_k if x[1] == cp), key=lambda x: abs(x[0] - k))
        iv = by_k[key].implied_volatility
        assert iv is not None
        return iv

    assert iv_at(0.9 * spot, "P") > iv_at(spot, "C") > iv_at(1.1 * spot, "C") * 0.95


def test_size_is_configurable() -> None:
    for n in (10, 300, 20_000):
        snap = sample_chain("IWM", D, n)
        assert abs(len(snap.quotes) - n) <= max(2, n // 100)


def test_greeks_match_an_independent_computation() -> None:
    s, r, q = 600.0, 0.04, 0.013
    k = np.array([480.0, 570.0, 600.0, 630.0, 720.0])
    t = np.array([7, 30, 90, 180, 365]) / 365.0
    vol = np.array([0.25, 0.19, 0.16, 0.15, 0.17])
    for is_call in (True, False):
        g = bs_greeks(s, k, t, r, q, vol, is_call)
        h = 0.001 * s
        up, mid, dn = (bs_price(x, k, t, r, q, vol, is_call) for x in (s + h, s, s - h))
        np.testing.assert_allclose(g["gamma"], (up - 2 * mid + dn) / h**2, rtol=2e-3, atol=1e-8)
        np.testing.assert_allclose(g["delta"], (up - dn) / (2 * h), rtol=2e-3, atol=1e-6)
        dv = 1e-4
        fd_vega = (bs_price(s, k, t, r, q, vol + dv, is_call) - bs_price(s, k, t, r, q, vol - dv,
                                                                         is_call)) / (2 * dv)
        np.testing.assert_allclose(g["vega"] * 100, fd_vega, rtol=1e-4, atol=1e-6)
        dt = 1e-5
        fd_theta = (bs_price(s, k, t - dt, r, q, vol, is_call) - mid) / dt / 365.0
        np.testing.assert_allclose(g["theta"], fd_theta, rtol=2e-3, atol=1e-8)
        # scipy.stats.norm as the independent reference for delta and gamma
        d1 = (np.log(s / k) + (r - q + vol**2 / 2) * t) / (vol * np.sqrt(t))
        ref_delta = np.exp(-q * t) * (norm.cdf(d1) if is_call else -norm.sf(d1))
        np.testing.assert_allclose(g["delta"], ref_delta, rtol=1e-9)
        ref_gamma = np.exp(-q * t) * norm.pdf(d1) / (s * vol * np.sqrt(t))
        np.testing.assert_allclose(g["gamma"], ref_gamma, rtol=1e-9)
    # put-call parity
    c = bs_price(s, k, t, r, q, vol, True)
    p = bs_price(s, k, t, r, q, vol, False)
    np.testing.assert_allclose(c - p, s * np.exp(-q * t) - k * np.exp(-r * t), atol=1e-9)


def test_chain_greeks_are_the_bs_greeks_of_its_iv() -> None:
    snap = sample_chain("AAPL", D, 400)
    spot = snap.underlying_price
    assert spot is not None
    q_div = profile("AAPL").dividend_yield
    for quote in snap.quotes[::37]:
        t = ((quote.expiration_date - D).days + 0.3) / 365.0
        g = bs_greeks(spot, quote.strike, t, RISK_FREE, q_div, quote.implied_volatility,
                      quote.option_type == "C")  # fmt: skip
        assert quote.gamma is not None and math.isclose(quote.gamma, float(g["gamma"]),
                                                        rel_tol=1e-4)  # fmt: skip
        assert quote.delta is not None and math.isclose(quote.delta, float(g["delta"]),
                                                        rel_tol=1e-4, abs_tol=1e-9)  # fmt: skip


# NYSE's published closures, incl. 2022-23 (before the old hand-typed list) and 2025-01-09
@pytest.mark.parametrize(("holiday", "name"), [
    (date(2022, 4, 15), "Good Friday"), (date(2022, 6, 20), "Juneteenth"),
    (date(2022, 12, 26), "Christmas"), (date(2023, 7, 4), "July 4th"),
    (date(2023, 1, 2), "New Year"), (date(2025, 1, 9), "special closure"),
    (date(2025, 12, 25), "Christmas"), (date(2026, 7, 3), "July 4th"),
], ids=str)
def test_holidays_have_no_contracts(holiday: date, name: str) -> None:
    expected = rf"no trading on {holiday.isoformat()}: market holiday \(.*{name}"
    with pytest.raises(NoContracts, match=expected):
        SampleProvider(contracts_per_symbol=50).fetch_chain("SPY", holiday)


def test_weekends_have_no_contracts() -> None:
    with pytest.raises(NoContracts, match="weekend"):
        sample_chain("SPY", date(2025, 3, 15), 50)


def test_bad_size_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError):
        SampleProvider(contracts_per_symbol=0)
    with pytest.raises(ProviderConfigError):
        SampleProvider(contracts_per_symbol=10**9)
