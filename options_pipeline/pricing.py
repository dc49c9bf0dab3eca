"""The one Black–Scholes–Merton: prices, greeks and a vectorised implied-volatility solve.

Every argument broadcasts (numpy arrays or scalars); `is_call` is a boolean array or bool. Time is
in years, rates and dividend yield continuously compounded. The sample market prices its chains
with it, the dealer metrics take gamma from it, and file providers solve IV with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
DAYS_PER_YEAR = 365.0

# The IV search interval: 0.01% to 1000% annualised. Prices needing more are treated as
# unsolvable rather than clamped, so a bad quote never turns into a plausible-looking vol.
IV_MIN = 1e-4
IV_MAX = 10.0


def norm_pdf(x: ArrayLike) -> FloatArray:
    x_ = np.asarray(x, dtype=np.float64)
    return INV_SQRT_2PI * np.exp(-0.5 * x_ * x_)


def norm_cdf(x: ArrayLike) -> FloatArray:
    return np.asarray(ndtr(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def d1_d2(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    vol_sqrt_t = v * np.sqrt(t_)
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t_) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t


def price(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> FloatArray:
    """European option price."""
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    d1, d2 = d1_d2(s, k, t_, vol, r, q)
    fwd_s = s * np.exp(-q * t_)
    disc_k = k * np.exp(-r * t_)
    call = fwd_s * norm_cdf(d1) - disc_k * norm_cdf(d2)
    put = disc_k * norm_cdf(-d2) - fwd_s * norm_cdf(-d1)
    return np.asarray(np.where(is_call, call, put), dtype=np.float64)


def gamma(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> FloatArray:
    """Γ = e^{-qT} φ(d1) / (S σ √T), the same for calls and puts."""
    s = np.asarray(spot, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    d1, _ = d1_d2(s, strike, t_, v, r, q)
    return np.asarray(np.exp(-q * t_) * norm_pdf(d1) / (s * v * np.sqrt(t_)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Greeks:
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray  # per calendar day
    vega: FloatArray  # per 1 volatility point (0.01)


def greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> Greeks:
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    d1, d2 = d1_d2(s, k, t_, v, r, q)
    sqrt_t = np.sqrt(t_)
    disc_q, disc_r = np.exp(-q * t_), np.exp(-r * t_)
    pdf = norm_pdf(d1)
    decay = -s * disc_q * pdf * v / (2.0 * sqrt_t)
    theta_call = decay - r * k * disc_r * norm_cdf(d2) + q * s * disc_q * norm_cdf(d1)
    theta_put = decay + r * k * disc_r * norm_cdf(-d2) - q * s * disc_q * norm_cdf(-d1)
    return Greeks(
        delta=np.asarray(
            np.where(is_call, disc_q * norm_cdf(d1), -disc_q * norm_cdf(-d1)), dtype=np.float64
        ),
        gamma=np.asarray(disc_q * pdf / (s * v * sqrt_t), dtype=np.float64),
        theta=np.asarray(
            np.where(is_call, theta_call, theta_put) / DAYS_PER_YEAR, dtype=np.float64
        ),
        vega=np.asarray(s * disc_q * pdf * sqrt_t / 100.0, dtype=np.float64),
    )


def no_arbitrage_bounds(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    is_call: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """(lower, upper) price bounds of a European option; a price must lie strictly inside."""
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    fwd_s = s * np.exp(-q * t_)
    disc_k = k * np.exp(-r * t_)
    lower = np.where(is_call, np.maximum(fwd_s - disc_k, 0.0), np.maximum(disc_k - fwd_s, 0.0))
    upper = np.where(is_call, fwd_s, disc_k)
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def implied_volatility(
    option_price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    is_call: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> FloatArray:
    """IV solving price(σ) = option_price for every element; NaN where there is no solution.

    No solution: a non-finite or non-positive input, T <= 0, or a price outside the no-arbitrage
    bounds (or needing σ outside [IV_MIN, IV_MAX]). Newton steps are kept inside a bisection
    bracket, so every element converges (price is monotone in σ) whatever the starting point.
    Convergence is judged on the time value (price − lower bound), not the price: deep in the
    money the time value is all σ moves, and a tolerance on the whole price would stop early.
    """
    p, s, k, t_, call = np.broadcast_arrays(
        np.asarray(option_price, dtype=np.float64),
        np.asarray(spot, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    p, s, k, t_, call = (np.ravel(a).copy() for a in (p, s, k, t_, call))
    out = np.full(p.shape, np.nan)
    with np.errstate(all="ignore"):
        valid = np.isfinite(p) & np.isfinite(s) & np.isfinite(k) & np.isfinite(t_)
        valid &= (s > 0) & (k > 0) & (t_ > 0) & (p > 0)
        lower, upper = no_arbitrage_bounds(s, k, t_, call, r, q)
        valid &= (p > lower) & (p < upper)
        idx = np.flatnonzero(valid)
        if idx.size:
            out[idx] = _solve(
                p[idx], s[idx], k[idx], t_[idx], call[idx], lower[idx], r, q, tol, max_iter
            )
    return out.reshape(
        np.broadcast_shapes(
            np.shape(option_price), np.shape(spot), np.shape(strike), np.shape(t), np.shape(is_call)
        )
    )


def _solve(
    p: FloatArray,
    s: FloatArray,
    k: FloatArray,
    t: FloatArray,
    call: NDArray[np.bool_],
    lower: FloatArray,
    r: float,
    q: float,
    tol: float,
    max_iter: int,
) -> FloatArray:
    """Safeguarded Newton on elements already inside the bounds; iterates only unfinished ones."""
    n = p.size
    out = np.full(n, np.nan)
    lo, hi = np.full(n, IV_MIN), np.full(n, IV_MAX)
    solvable = (price(s, k, t, lo, call, r, q) <= p) & (price(s, k, t, hi, call, r, q) >= p)
    # Brenner–Subrahmanyam start: σ ≈ √(2π/T) · price / S, clipped into a plausible range
    sigma = np.clip(np.sqrt(2.0 * math.pi / t) * p / s, 0.05, 2.0)
    room = tol * (p - lower)  # the time value sets the tolerance (see implied_volatility)
    act = np.flatnonzero(solvable)
    for _ in range(max_iter):
        if act.size == 0:
            break
        sg, pa, sa, ka, ta, ca = sigma[act], p[act], s[act], k[act], t[act], call[act]
        diff = price(sa, ka, ta, sg, ca, r, q) - pa
        converged = np.abs(diff) <= room[act]
        hi_a = np.where(diff > 0, sg, hi[act])
        lo_a = np.where(diff < 0, sg, lo[act])
        d1, _ = d1_d2(sa, ka, ta, sg, r, q)
        vega = sa * np.exp(-q * ta) * norm_pdf(d1) * np.sqrt(ta)
        newton = sg - diff / vega
        inside = np.isfinite(newton) & (newton > lo_a) & (newton < hi_a)
        step = np.where(inside, newton, 0.5 * (lo_a + hi_a))
        finished = converged | ((hi_a - lo_a) <= 1e-14 * hi_a)
        sigma[act] = np.where(converged, sg, step)
        hi[act], lo[act] = hi_a, lo_a
        out[act[finished]] = sigma[act[finished]]
        act = act[~finished]
    out[act] = sigma[act]  # max_iter reached: the last bracketed estimate
    return out


def price_and_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    r: float = 0.0,
    q: float = 0.0,
) -> tuple[FloatArray, Greeks]:
    """`price` and `greeks` together, sharing d1, d2 and the normal CDFs (one pass instead of
    two: what a generator pricing whole chains wants). N(-x) is taken as 1 - N(x)."""
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t_ = np.asarray(t, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    d1, d2 = d1_d2(s, k, t_, v, r, q)
    sqrt_t = np.sqrt(t_)
    fwd_s = s * np.exp(-q * t_)
    disc_k = k * np.exp(-r * t_)
    n1, n2 = norm_cdf(np.where(call, d1, -d1)), norm_cdf(np.where(call, d2, -d2))  # own side
    sign = np.where(call, 1.0, -1.0)
    pdf = norm_pdf(d1)
    decay = -fwd_s * pdf * v / (2.0 * sqrt_t)
    value = sign * (fwd_s * n1 - disc_k * n2)
    return np.asarray(value, dtype=np.float64), Greeks(
        delta=np.asarray(sign * np.exp(-q * t_) * n1, dtype=np.float64),
        gamma=np.asarray(fwd_s * pdf / (s * s * v * sqrt_t), dtype=np.float64),
        theta=np.asarray(
            (decay - sign * (r * disc_k * n2 - q * fwd_s * n1)) / DAYS_PER_YEAR, dtype=np.float64
        ),
        vega=np.asarray(fwd_s * pdf * sqrt_t / 100.0, dtype=np.float64),
    )
