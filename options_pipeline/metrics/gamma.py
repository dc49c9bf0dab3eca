"""Time to expiry and the vectorised dollar-gamma profile, on `options_pipeline.pricing`'s gamma.

The profile is pricing.gamma(x)·x²·0.01 rewritten for speed (tested against a per-contract loop
of pricing.gamma), so the profile evaluated at the spot equals the spot GEX up to rounding.
Vendor gammas are never mixed in: they come from different models, times and rates per vendor
and would make the two disagree.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from numpy.typing import ArrayLike, NDArray

SQRT_2PI = math.sqrt(2.0 * math.pi)
DAYS_PER_YEAR = 365.0
ONE_HOUR_YEARS = 1.0 / (DAYS_PER_YEAR * 24.0)
PCT_MOVE = 0.01  # GEX is quoted per 1% move of the underlying

# e^-700 ~ 1e-304, the last decade of normal float64 before exp's subnormal range
UNDERFLOW_EXPONENT = 700.0

# Upper bound on grid x contracts elements held at once by the profile (8 MiB of float64).
DEFAULT_CHUNK_ELEMENTS = 1 << 20


def days_to_expiry(expiration: NDArray[np.datetime64], as_of: date) -> NDArray[np.int64]:
    """Calendar days from `as_of` to each expiration (0 = expires that day, < 0 = expired)."""
    exp = np.asarray(expiration, dtype="datetime64[D]")
    return (exp - np.datetime64(as_of, "D")).astype(np.int64)


def year_fractions(dte: ArrayLike, *, floor_years: float = ONE_HOUR_YEARS) -> NDArray[np.float64]:
    """Calendar days / 365, floored so a same-day expiry keeps a finite (large) gamma."""
    t = np.asarray(dte, dtype=np.float64) / DAYS_PER_YEAR
    return np.maximum(t, floor_years)


def gex_profile(
    spots: ArrayLike,
    *,
    strike: NDArray[np.float64],
    t: NDArray[np.float64],
    iv: NDArray[np.float64],
    weight: NDArray[np.float64],
    r: float = 0.0,
    q: float = 0.0,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> NDArray[np.float64]:
    """Σ_i weight_i · Γ_i(x) · x² · 0.01 for every hypothetical spot x, re-pricing gamma at x.

    `weight` is sign · open interest · multiplier per contract. The work is a (spots × contracts)
    array computed in row chunks of at most `chunk_elements` elements, so memory stays bounded
    for any chain size. Γ·x² is rewritten as e^{-qT} φ(d1) x / (σ√T) so the per-contract parts
    are computed once and each grid element costs one subtract, multiply, square and exp.
    """
    x = np.atleast_1d(np.asarray(spots, dtype=np.float64))
    out = np.zeros(x.shape, dtype=np.float64)
    n = strike.shape[0]
    if n == 0 or x.size == 0:
        return out
    inv_vol = 1.0 / (iv * np.sqrt(t))
    # d1 = (ln x − c) / (σ√T)  with  c = ln K − (r − q + σ²/2) T
    c = np.log(strike) - (r - q + 0.5 * iv * iv) * t
    half_inv = inv_vol * math.sqrt(0.5)  # ((ln x − c) · half_inv)² = d1² / 2
    w = weight * np.exp(-q * t) * inv_vol
    ln_x = np.log(x)
    rows = max(1, chunk_elements // n)
    flat = out.reshape(-1)
    ln_flat = ln_x.reshape(-1)
    for start in range(0, ln_flat.size, rows):
        stop = min(start + rows, ln_flat.size)
        z = np.subtract.outer(ln_flat[start:stop], c)
        z *= half_inv
        np.square(z, out=z)
        # e^-z for z beyond ~708 is subnormal or 0, and exp takes a 5-50x slower path for those
        # (most of a wide grid x a long chain): they are < 1e-304 of their weight, so count
        # them as exactly 0 instead
        far = z > UNDERFLOW_EXPONENT
        np.minimum(z, UNDERFLOW_EXPONENT, out=z)
        np.negative(z, out=z)
        np.exp(z, out=z)
        np.copyto(z, 0.0, where=far)
        # einsum, not `z @ w`: BLAS spreads this matrix-vector product over threads, which on a
        # busy machine made it 1-15 ms instead of einsum's steady ~1.5 ms per million elements
        flat[start:stop] = np.einsum("ij,j->i", z, w)
    return out * x * (PCT_MOVE / SQRT_2PI)
