"""A chain as the metrics read it: read-only numpy columns of one (symbol, day)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray


def _float_column(values: Any) -> NDArray[np.float64]:
    """Floats with None / pd.NA / Decimal handled; missing values become NaN."""
    if hasattr(values, "to_numpy"):  # pandas Series / Index, incl. nullable dtypes
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    return np.array([_to_float(v) for v in arr.tolist()], dtype=np.float64)


def _to_float(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except TypeError:  # pd.NA, pd.NaT and friends
        return math.nan


def _is_call_column(values: Any) -> NDArray[np.bool_]:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    norm = np.char.upper(np.char.strip(arr.astype(str)))
    calls = np.isin(norm, ("C", "CALL"))
    puts = np.isin(norm, ("P", "PUT"))
    bad = ~(calls | puts)
    if bad.any():
        raise ValueError(f"option_type must be 'C' or 'P', got {arr[bad][0]!r}")
    return calls


def _date_column(values: Any) -> NDArray[np.datetime64]:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    return np.array(
        [v.date() if isinstance(v, datetime) else v for v in arr.tolist()], dtype="datetime64[D]"
    )


def readonly(arr: NDArray[Any]) -> NDArray[Any]:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class ChainArrays:
    """One (symbol, day) chain as parallel read-only arrays, one element per contract.

    `eq=False`: arrays have no single truth value, so instances compare by identity.
    Missing IV / open interest / volume are NaN (they fail eligibility, never raise).
    """

    as_of: date
    spot: float | None
    strike: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    expiration: NDArray[np.datetime64]  # datetime64[D]
    iv: NDArray[np.float64]
    open_interest: NDArray[np.float64]
    volume: NDArray[np.float64]
    multiplier: NDArray[np.float64]
    symbol: str = ""

    def __post_init__(self) -> None:
        if self.strike.ndim != 1:
            raise ValueError(f"strike must be 1-D, got shape {self.strike.shape}")
        n = self.strike.shape[0]
        for name in ("is_call", "expiration", "iv", "open_interest", "volume", "multiplier"):
            arr = getattr(self, name)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
        if isinstance(self.as_of, datetime) or not isinstance(self.as_of, date):
            raise TypeError(f"as_of must be a datetime.date, got {type(self.as_of).__name__}")

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    @classmethod
    def from_columns(
        cls,
        *,
        as_of: date,
        spot: float | None,
        strike: Any,
        option_type: Any,
        expiration_date: Any,
        implied_volatility: Any,
        open_interest: Any,
        volume: Any,
        multiplier: Any = 100,
        symbol: str = "",
    ) -> ChainArrays:
        """Build from column sequences (lists, numpy arrays or pandas Series).

        option_type is 'C'/'P' (or 'call'/'put', any case) or already a bool is_call column;
        expiration_date holds dates, ISO strings or datetime64; a scalar multiplier broadcasts.
        """
        k = _float_column(strike)
        n = k.shape[0]
        if np.ndim(multiplier) == 0:
            mult_arr = np.full(n, float(multiplier), dtype=np.float64)
        else:
            mult_arr = _float_column(multiplier)
        spot_f = None if spot is None or not math.isfinite(float(spot)) else float(spot)
        return cls(
            as_of=as_of,
            spot=spot_f,
            strike=readonly(k),
            is_call=readonly(_is_call_column(option_type) if n else np.zeros(0, dtype=bool)),
            expiration=readonly(
                _date_column(expiration_date) if n else np.zeros(0, dtype="datetime64[D]")
            ),
            iv=readonly(_float_column(implied_volatility)),
            open_interest=readonly(_float_column(open_interest)),
            volume=readonly(_float_column(volume)),
            multiplier=readonly(mult_arr),
            symbol=symbol,
        )
