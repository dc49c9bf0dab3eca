"""The gamma flip: where the re-priced GEX profile changes sign, refined on the exact profile."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray


def refine_root(
    f: Callable[[float], float], a: float, b: float, fa: float, fb: float, *, xtol: float
) -> float:
    """Root of f in [a, b] with f(a)·f(b) < 0 by Illinois regula falsi: it always keeps a
    bracket (so it cannot wander off to another crossing) and converges superlinearly on smooth
    f, needing far fewer evaluations of the exact profile than plain bisection."""
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(200):
        c = b - fb * (b - a) / (fb - fa)
        if not (min(a, b) < c < max(a, b)):  # rounding pushed it out: bisect instead
            c = 0.5 * (a + b)
        fc = f(c)
        if fc == 0.0:
            return c
        if (fc > 0) != (fb > 0):  # root between b and c: the old b becomes the far end
            a, fa = b, fb
        else:  # same end kept twice in a row: halve its value (the Illinois step)
            fa *= 0.5
        b, fb = c, fc
        if abs(b - a) <= xtol:
            break
    return b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)


def find_crossings(
    f: Callable[[float], float],
    grid: NDArray[np.float64],
    values: NDArray[np.float64],
    *,
    xtol: float,
) -> list[float]:
    """Every sign change of `values` over `grid`, refined on the exact f.

    Grid points where the value is exactly 0 (e.g. underflowed far tails) are skipped when
    looking for a sign change, so a curve that merely touches 0 is not a crossing.
    """
    nz = np.flatnonzero(values != 0.0)
    if nz.size < 2:
        return []
    sgn = values[nz] > 0
    changes = np.flatnonzero(sgn[1:] != sgn[:-1])
    roots = []
    for j in changes:
        i0, i1 = nz[j], nz[j + 1]
        roots.append(
            refine_root(f, grid[i0], grid[i1], float(values[i0]), float(values[i1]), xtol=xtol)
        )
    return roots
