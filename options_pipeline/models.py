"""Frozen records that cross layer boundaries: nothing downstream of a provider touches raw JSON.

A chain travels as columns (`ChainColumns`: one numpy array per field), so that validation and the
database write are array operations; `ChainSnapshot.quotes` gives the same chain as per-contract
`OptionQuote` objects, built on first use, for code that wants rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np

OptionType = Literal["C", "P"]


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One listed contract on one trading day, already validated and normalised."""

    contract_symbol: str  # OCC symbol without Polygon's "O:" prefix, e.g. SPY251219C00600000
    expiration_date: date
    strike: float
    option_type: OptionType
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    volume: int | None = None
    open_interest: int | None = None
    implied_volatility: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    multiplier: int = 100

    @property
    def identity(self) -> tuple[date, float, str]:
        """The part of the storage identity a snapshot can repeat: (expiration, strike, type)."""
        return (self.expiration_date, self.strike, self.option_type)


# Optional numeric fields: float64 arrays in which NaN means "the provider gave no value" (a NaN
# from a provider is rejected as non-finite before it gets here, so the two cannot be confused).
# Volume and open interest hold whole numbers.
OPTIONAL_FIELDS = (
    "bid",
    "ask",
    "last",
    "volume",
    "open_interest",
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
)
SIZE_FIELDS = ("volume", "open_interest")


@dataclass(frozen=True, slots=True, eq=False)
class ChainColumns:
    """A chain as parallel arrays: row i of every array is one contract."""

    expiration_date: np.ndarray  # datetime64[D]
    strike: np.ndarray  # float64
    is_call: np.ndarray  # bool
    bid: np.ndarray
    ask: np.ndarray
    last: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray
    implied_volatility: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    multiplier: np.ndarray  # int64
    # OCC symbols (object array of str), or None: then they are derived from `root` on demand
    # (the sample market never needs them on the write path, so it does not pay for them).
    contract_symbol: np.ndarray | None = None
    root: str = ""

    def __len__(self) -> int:
        return int(self.strike.size)

    def take(self, index: np.ndarray) -> ChainColumns:
        """The rows selected by a boolean mask or an index array, in that order."""
        arrays = {name: getattr(self, name)[index] for name in _ARRAY_FIELDS}
        symbols = self.contract_symbol[index] if self.contract_symbol is not None else None
        return ChainColumns(**arrays, contract_symbol=symbols, root=self.root)

    def symbols(self) -> np.ndarray:
        if self.contract_symbol is not None:
            return self.contract_symbol
        from options_pipeline.providers.normalize import occ_symbol

        return np.array(
            [
                occ_symbol(self.root, e, "C" if c else "P", k)
                for e, c, k in zip(
                    self.expiration_date.tolist(),
                    self.is_call.tolist(),
                    self.strike.tolist(),
                    strict=True,
                )
            ],
            dtype=object,
        )

    def equals(self, other: ChainColumns) -> bool:
        if len(self) != len(other):
            return False
        same = all(
            np.array_equal(getattr(self, n), getattr(other, n), equal_nan=n in OPTIONAL_FIELDS)
            for n in _ARRAY_FIELDS
        )
        return same and np.array_equal(self.symbols(), other.symbols())

    @classmethod
    def from_quotes(cls, quotes: Sequence[OptionQuote]) -> ChainColumns:
        """Columns from per-contract objects (None -> NaN)."""
        n = len(quotes)

        def floats(name: str) -> np.ndarray:
            values = [getattr(q, name) for q in quotes]
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        # Any: the fields are named at run time, which a typed **-expansion cannot express
        optional: dict[str, Any] = {name: floats(name) for name in OPTIONAL_FIELDS}
        return cls(
            expiration_date=np.array([q.expiration_date for q in quotes], dtype="datetime64[D]")
            if n
            else np.empty(0, "datetime64[D]"),
            strike=np.array([q.strike for q in quotes], dtype=np.float64),
            is_call=np.array([q.option_type == "C" for q in quotes], dtype=bool),
            **optional,
            multiplier=np.array([q.multiplier for q in quotes], dtype=np.int64),
            contract_symbol=np.array([q.contract_symbol for q in quotes], dtype=object),
        )

    def to_quotes(self) -> tuple[OptionQuote, ...]:
        def values(name: str) -> list[Any]:
            arr = getattr(self, name)
            out = arr.tolist()
            if name in SIZE_FIELDS:
                return [None if v != v else int(v) for v in out]
            return [None if v != v else v for v in out]

        cols = [values(n) for n in OPTIONAL_FIELDS]
        return tuple(
            # the optional fields, then the multiplier: OptionQuote's field order
            OptionQuote(sym, exp, k, "C" if c else "P", *rest)
            for sym, exp, k, c, *rest in zip(
                self.symbols().tolist(),
                self.expiration_date.tolist(),
                self.strike.tolist(),
                self.is_call.tolist(),
                *cols,
                self.multiplier.tolist(),
                strict=True,
            )
        )


_ARRAY_FIELDS = ("expiration_date", "strike", "is_call", *OPTIONAL_FIELDS, "multiplier")


@dataclass(frozen=True, slots=True, init=False, eq=False)
class ChainSnapshot:
    """The option chain of one symbol as of one trading day, as one provider answered it.

    Built from `columns` (the fast path) or from `quotes`; either view is available afterwards.
    """

    symbol: str
    as_of: date
    provider: str
    columns: ChainColumns
    underlying_price: float | None
    underlying_price_source: str  # e.g. "polygon:snapshot.underlying_asset.price", "sample"
    provider_mark_time: datetime | None  # when the provider says the values were taken
    rejected: dict[str, int]  # reason -> rows dropped
    requests: int  # HTTP requests spent on this snapshot (0 for offline providers)
    # kept contracts a provider completed or left without a value, e.g. {"iv_solved": 812,
    # "iv_outside_bounds": 37} (rows dropped are in `rejected`)
    annotations: dict[str, int]
    # Open interest of session D is the figure known at D's open, i.e. for the end of the previous
    # session (OPRA publishes it overnight): which session the stored OI is for, and from where.
    open_interest_as_of: date | None
    open_interest_source: str | None
    merged: int  # rows folded into another root's row of the same identity (e.g. SPX+SPXW)
    _quotes: tuple[OptionQuote, ...] | None = field(init=False, repr=False)

    def __init__(
        self,
        *,
        symbol: str,
        as_of: date,
        provider: str,
        underlying_price: float | None,
        underlying_price_source: str,
        quotes: Sequence[OptionQuote] | None = None,
        columns: ChainColumns | None = None,
        provider_mark_time: datetime | None = None,
        rejected: dict[str, int] | None = None,
        requests: int = 0,
        annotations: dict[str, int] | None = None,
        open_interest_as_of: date | None = None,
        open_interest_source: str | None = None,
        merged: int = 0,
    ) -> None:
        if (quotes is None) == (columns is None):
            raise TypeError("ChainSnapshot needs exactly one of quotes= or columns=")
        if columns is None:
            quotes = tuple(quotes or ())
            columns = ChainColumns.from_quotes(quotes)
        values = {
            "symbol": symbol,
            "as_of": as_of,
            "provider": provider,
            "columns": columns,
            "underlying_price": underlying_price,
            "underlying_price_source": underlying_price_source,
            "provider_mark_time": provider_mark_time,
            "rejected": dict(rejected or {}),
            "requests": requests,
            "annotations": dict(annotations or {}),
            "open_interest_as_of": open_interest_as_of,
            "open_interest_source": open_interest_source,
            "merged": merged,
            "_quotes": quotes,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def quotes(self) -> tuple[OptionQuote, ...]:
        if self._quotes is None:
            object.__setattr__(self, "_quotes", self.columns.to_quotes())
        assert self._quotes is not None
        return self._quotes

    @property
    def contract_count(self) -> int:
        return len(self.columns)

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChainSnapshot):
            return NotImplemented
        scalars = (
            "symbol",
            "as_of",
            "provider",
            "underlying_price",
            "underlying_price_source",
            "provider_mark_time",
            "rejected",
            "requests",
            "annotations",
            "open_interest_as_of",
            "open_interest_source",
            "merged",
        )
        return all(getattr(self, n) == getattr(other, n) for n in scalars) and self.columns.equals(
            other.columns
        )

    __hash__ = None  # type: ignore[assignment]
