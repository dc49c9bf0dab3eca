"""Closed-form gamma against oracles written here: a finite difference of a Black–Scholes price
(math.erf) and the textbook formula with scipy's normal pdf."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy.stats import norm

from options_pipeline import pricing
from options_pipeline.metrics.gamma import (
    ONE_HOUR_YEARS,
    days_to_expiry,
    gex_profile,
    year_fractions,
)


def _ncdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _bs_price(s: float, k: float, t: float, sigma: float, r: float, q: float, call: bool) -> float:
    d1 = (math.log(s / k) + (r - q + 0.5 * sigma**2) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    if call:
        return s * math.exp(-q * t) * _ncdf(d1) - k * math.exp(-r * t) * _ncdf(d2)
    return k * math.exp(-r * t) * _ncdf(-d2) - s * math.exp(-q * t) * _ncdf(-d1)


CASES = [
    # spot, strike, t, sigma, r, q
    (100.0, 100.0, 30 / 365, 0.20, 0.0, 0.0),
    (100.0, 90.0, 7 / 365, 0.35, 0.0, 0.0),
    (450.0, 500.0, 90 / 365, 0.15, 0.05, 0.015),
    (20.0, 18.0, 1.0, 0.80, 0.03, 0.0),
    (5000.0, 4950.0, 2 / 365, 0.12, 0.045, 0.013),
]


@pytest.mark.parametrize(("s", "k", "t", "sigma", "r", "q"), CASES)
@pytest.mark.parametrize("call", [True, False])
def test_gamma_matches_finite_difference_of_price(s, k, t, sigma, r, q, call):
    h = s * 1e-4  # small against the price curvature scale S·σ·√T of the 2-day case
    fd = (
        _bs_price(s + h, k, t, sigma, r, q, call)
        - 2 * _bs_price(s, k, t, sigma, r, q, call)
        + _bs_price(s - h, k, t, sigma, r, q, call)
    ) / (h * h)
    got = float(pricing.gamma(s, k, t, sigma, r=r, q=q))
    assert got == pytest.approx(fd, rel=2e-4)


@pytest.mark.parametrize(("s", "k", "t", "sigma", "r", "q"), CASES)
def test_gamma_matches_scipy_formula(s, k, t, sigma, r, q):
    d1 = (np.log(s / k) + (r - q + sigma**2 / 2) * t) / (sigma * np.sqrt(t))
    expected = np.exp(-q * t) * norm.pdf(d1) / (s * sigma * np.sqrt(t))
    assert float(pricing.gamma(s, k, t, sigma, r=r, q=q)) == pytest.approx(expected, rel=1e-12)


def test_gamma_broadcasts():
    spots = np.array([[90.0], [100.0], [110.0]])
    strikes = np.array([95.0, 100.0, 105.0, 120.0])
    g = pricing.gamma(spots, strikes, 0.1, 0.25)
    assert g.shape == (3, 4)
    assert g[1, 1] == pytest.approx(float(pricing.gamma(100.0, 100.0, 0.1, 0.25)))


def test_year_fractions_floor_and_dte():
    exp = np.array(["2024-06-03", "2024-06-04", "2024-09-01"], dtype="datetime64[D]")
    dte = days_to_expiry(exp, date(2024, 6, 3))
    assert dte.tolist() == [0, 1, 90]
    t = year_fractions(dte)
    assert t.tolist() == pytest.approx([ONE_HOUR_YEARS, 1 / 365, 90 / 365])
    assert t[0] * 365 * 24 == pytest.approx(1.0)  # one hour


def _profile_oracle(x, strike, t, iv, weight, r, q):
    """Σ w·Γ(x)·x²·0.01 one contract and one spot at a time, with scipy's pdf."""
    out = []
    for xi in x:
        total = 0.0
        for k, ti, s, w in zip(strike, t, iv, weight, strict=True):
            d1 = (math.log(xi / k) + (r - q + s * s / 2) * ti) / (s * math.sqrt(ti))
            total += w * math.exp(-q * ti) * norm.pdf(d1) / (xi * s * math.sqrt(ti)) * xi * xi
        out.append(total * 0.01)
    return np.array(out)


@pytest.mark.parametrize("chunk", [7, 50, 1 << 20])
def test_gex_profile_matches_per_contract_loop(chunk):
    rng = np.random.default_rng(1)
    n = 40
    strike = rng.uniform(80, 120, n)
    t = rng.uniform(1 / 365, 0.5, n)
    iv = rng.uniform(0.1, 0.6, n)
    weight = rng.choice([-1.0, 1.0], n) * rng.uniform(100, 5000, n) * 100
    x = np.linspace(80, 120, 23)
    got = gex_profile(
        x, strike=strike, t=t, iv=iv, weight=weight, r=0.04, q=0.01, chunk_elements=chunk
    )
    want = _profile_oracle(x, strike, t, iv, weight, 0.04, 0.01)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-6)


def test_gex_profile_empty_book_is_zero():
    e = np.zeros(0)
    got = gex_profile([90.0, 100.0], strike=e, t=e, iv=e, weight=e)
    assert got.tolist() == [0.0, 0.0]
