"""pricing.py against independent oracles: scipy.stats.norm closed forms, finite differences,
put–call parity and scipy's brentq root-finder for the implied volatility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from options_pipeline import pricing

CASES = [  # spot, strike, years, vol, r, q
    (100.0, 100.0, 0.5, 0.2, 0.03, 0.01),
    (450.0, 500.0, 30 / 365, 0.15, 0.05, 0.0),
    (15000.0, 14000.0, 2 / 365, 0.35, 0.0, 0.0),
    (20.0, 35.0, 1.5, 0.8, 0.01, 0.02),
]


def _textbook(s: float, k: float, t: float, v: float, r: float, q: float, call: bool) -> float:
    d1 = (math.log(s / k) + (r - q + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    if call:
        return s * math.exp(-q * t) * norm.cdf(d1) - k * math.exp(-r * t) * norm.cdf(d2)
    return k * math.exp(-r * t) * norm.cdf(-d2) - s * math.exp(-q * t) * norm.cdf(-d1)


@pytest.mark.parametrize(("s", "k", "t", "v", "r", "q"), CASES)
@pytest.mark.parametrize("call", [True, False])
def test_price_matches_the_textbook_formula(s, k, t, v, r, q, call):
    got = float(pricing.price(s, k, t, v, call, r, q))
    assert got == pytest.approx(_textbook(s, k, t, v, r, q, call), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("s", "k", "t", "v", "r", "q"), CASES)
def test_put_call_parity(s, k, t, v, r, q):
    c = float(pricing.price(s, k, t, v, True, r, q))
    p = float(pricing.price(s, k, t, v, False, r, q))
    assert c - p == pytest.approx(s * math.exp(-q * t) - k * math.exp(-r * t), abs=1e-9 * s)


@pytest.mark.parametrize(("s", "k", "t", "v", "r", "q"), CASES)
@pytest.mark.parametrize("call", [True, False])
def test_greeks_match_finite_differences_of_the_textbook_price(s, k, t, v, r, q, call):
    g = pricing.greeks(s, k, t, v, call, r, q)
    h = s * 1e-4
    up, mid, dn = (_textbook(x, k, t, v, r, q, call) for x in (s + h, s, s - h))
    assert float(g.delta) == pytest.approx((up - dn) / (2 * h), rel=1e-4, abs=1e-8)
    assert float(g.gamma) == pytest.approx((up - 2 * mid + dn) / h**2, rel=1e-3, abs=1e-9)
    dv = 1e-5
    vega = (_textbook(s, k, t, v + dv, r, q, call) - _textbook(s, k, t, v - dv, r, q, call)) / (
        2 * dv
    )
    assert float(g.vega) == pytest.approx(vega / 100, rel=1e-5, abs=1e-10)
    dt = 1e-6
    theta = (_textbook(s, k, t - dt, v, r, q, call) - _textbook(s, k, t + dt, v, r, q, call)) / (
        2 * dt
    )
    assert float(g.theta) == pytest.approx(theta / 365, rel=1e-4, abs=1e-9)
    assert float(pricing.gamma(s, k, t, v, r, q)) == pytest.approx(float(g.gamma), rel=1e-14)


def test_implied_volatility_agrees_with_brentq_over_a_chain():
    rng = np.random.default_rng(7)
    n = 2000
    s = np.full(n, 4700.0)
    k = s * rng.uniform(0.6, 1.4, n)
    t = rng.uniform(1 / 365, 2.0, n)
    v = rng.uniform(0.08, 1.5, n)
    call = rng.random(n) < 0.5
    r, q = 0.045, 0.013
    prices = np.array(
        [_textbook(*a, r, q, bool(c)) for *a, c in zip(s, k, t, v, call, strict=True)]
    )
    solved = pricing.implied_volatility(prices, s, k, t, call, r, q)
    checked = 0
    for i in range(0, n, 20):
        lo_p = _textbook(s[i], k[i], t[i], 1e-4, r, q, bool(call[i]))
        if prices[i] - lo_p < 1e-9 * s[i]:  # vega-less deep in/out of the money: not identifiable
            continue
        oracle = brentq(
            lambda x, i=i: _textbook(s[i], k[i], t[i], x, r, q, bool(call[i])) - prices[i],
            1e-4,
            10.0,
            xtol=1e-14,
        )
        assert solved[i] == pytest.approx(oracle, rel=1e-6)
        checked += 1
    assert checked > 50
    assert np.isfinite(solved).mean() > 0.95
    # where the price still moves with σ at double precision, the solve recovers the true σ
    identifiable = pricing.greeks(s, k, t, v, call, r, q).vega * 100 > 1e-6 * s
    assert identifiable.mean() > 0.9
    assert np.allclose(solved[identifiable], v[identifiable], rtol=1e-6)


def test_prices_outside_no_arbitrage_bounds_have_no_iv():
    s, k, t = 100.0, 90.0, 0.25
    intrinsic = s - k * math.exp(-0.0 * t)
    got = pricing.implied_volatility(
        [intrinsic - 0.5, s + 1.0, 0.0, -1.0, np.nan, 12.0], s, k, t, True
    )
    assert np.isnan(got[:5]).all()
    assert got[5] == pytest.approx(
        brentq(lambda x: _textbook(s, k, t, x, 0, 0, True) - 12.0, 1e-4, 10), rel=1e-6
    )
    assert np.isnan(pricing.implied_volatility(1.0, s, k, 0.0, True))


def test_deep_in_the_money_iv_is_solved_to_the_time_value_not_the_whole_price():
    # S 4500, K 3228, 204 days, σ 0.0948: price ≈ 1300.59 of which 3e-5 is time value; a
    # tolerance relative to the whole price stops ~1e-7 away from brentq's answer
    s, k, t, v, r, q = 4500.0, 3228.0, 204 / 365, 0.0948083141128462, 0.03, 0.01
    p = _textbook(s, k, t, v, r, q, True)
    oracle = brentq(lambda x: _textbook(s, k, t, x, r, q, True) - p, 1e-4, 10.0, xtol=1e-15)
    assert float(pricing.implied_volatility(p, s, k, t, True, r, q)) == pytest.approx(
        oracle, rel=1e-8
    )


def test_a_vanishing_price_never_returns_the_starting_guess():
    # far out of the money, price 1e-30: the old stopping rule accepted σ = 0.05 at once
    s, k, t, v = 4500.0, 3696.0, 10 / 365, 0.105
    p = _textbook(s, k, t, v, 0.0, 0.0, False)
    assert 0 < p < 1e-20
    got = float(pricing.implied_volatility(p, s, k, t, False))
    assert got == pytest.approx(v, rel=1e-6)
