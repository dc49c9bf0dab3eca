"""What the day metrics take (`MetricsParams`) and give (`DayMetrics`), and their conventions.

Every threshold lives in `MetricsParams` so the stored output (`DayMetrics.to_dict()`, which
embeds the params) says exactly how a number was produced.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from options_pipeline.metrics.chain import readonly
from options_pipeline.metrics.gamma import DEFAULT_CHUNK_ELEMENTS, ONE_HOUR_YEARS

Convention = Literal["dealer_long_calls_short_puts", "dealer_short_calls_long_puts"]
Status = Literal["FULL", "LIMITED", "INVALID"]
Position = Literal["long_gamma", "short_gamma", "neutral"]

CONVENTIONS: dict[str, tuple[float, float]] = {
    # name -> (sign of calls, sign of puts) in dealer GEX
    "dealer_long_calls_short_puts": (1.0, -1.0),  # SqueezeMetrics: customers sell calls, buy puts
    "dealer_short_calls_long_puts": (-1.0, 1.0),  # the opposite convention
}
GEX_UNITS = "USD per 1% move"
SLOPE_UNITS = "USD per 1% move, per USD of spot"

# Exclusion reasons, in the order they are tested; a contract is counted under the first it fails
# so the counts add up to total − eligible.
EXCLUSION_REASONS = (
    "bad_strike_or_multiplier",
    "expired",
    "dte_below_min",
    "dte_above_max",
    "no_iv",
    "no_open_interest",
    "open_interest_below_min",
    "volume_below_min",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsParams:
    """Every knob of the day metrics; the defaults are the documented method."""

    # eligibility
    min_open_interest: float = 100.0  # and always > 0
    min_volume: float = 1.0  # <= 0 disables the volume filter (then missing volume passes)
    min_dte_days: int = 0  # 0 keeps same-day expiries; negative DTE (expired) always excluded
    max_dte_days: int = 90
    # pricing
    rate: float = 0.0  # continuously compounded r
    dividend_yield: float = 0.0  # continuously compounded q
    # Same-day expiries get one hour (1/(365·24) y) rather than 0: a daily snapshot cannot
    # say how much of the session is left, and one hour keeps gamma large but finite.
    time_floor_years: float = ONE_HOUR_YEARS
    convention: Convention = "dealer_long_calls_short_puts"
    # walls / flip / slope
    wall_range: float = 0.20  # walls only among strikes within spot·(1 ± wall_range)
    wall_count: int = 3
    grid_range: float = 0.20  # flip searched over spot·(1 ± grid_range)
    grid_points: int = 201  # odd so the spot itself is a grid point
    flip_xtol: float = 1e-9  # crossing refined until the bracket is < flip_xtol · spot wide
    slope_width: float = 0.02  # slope = (G(S(1+w)) − G(S(1−w))) / (2w·S)
    # classification
    neutral_fraction: float = 0.05  # neutral when |net| < neutral_fraction · total
    full_min_eligible: int = 25
    limited_min_eligible: int = 1
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {self.convention!r}; one of {list(CONVENTIONS)}")
        if self.grid_points < 2:
            raise ValueError("grid_points must be >= 2")
        for name in ("wall_range", "grid_range", "slope_width"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1)")
        if self.time_floor_years <= 0:
            raise ValueError("time_floor_years must be > 0")
        if not 1 <= self.limited_min_eligible <= self.full_min_eligible:
            raise ValueError("need 1 <= limited_min_eligible <= full_min_eligible")
        if self.min_dte_days > self.max_dte_days:
            raise ValueError("min_dte_days > max_dte_days")


def params_fingerprint(params: MetricsParams) -> str:
    """A short digest of every parameter: two stored results with the same fingerprint (and model
    version) were computed the same way."""
    text = json.dumps(asdict(params), sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StrikeLevel:
    """A strike and its aggregated GEX (USD per 1% move, signed by the convention)."""

    strike: float
    gex: float


def _ro_empty() -> NDArray[np.float64]:
    return readonly(np.zeros(0, dtype=np.float64))


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, slots=True, eq=False)
class DayMetrics:
    """Dealer gamma metrics of one (symbol, day). INVALID leaves every number None / empty.

    Arrays are read-only; `eq=False` for the same reason as `ChainArrays`.
    """

    symbol: str
    as_of: date
    spot: float | None
    status: Status
    status_reason: str
    params: MetricsParams
    total_contracts: int
    eligible_contracts: int
    excluded: dict[str, int]
    gex_net: float | None = None
    gex_total: float | None = None  # Σ |GEX| over eligible contracts
    position: Position | None = None
    gex_slope: float | None = None  # SLOPE_UNITS, by re-pricing at S(1 ± slope_width)
    flip: float | None = None  # crossing of the net GEX profile nearest the spot
    flip_reason: str | None = None  # why flip is None
    crossings: tuple[float, ...] = ()  # every refined sign change, ascending
    abs_gamma_strike: float | None = None
    call_walls: tuple[StrikeLevel, ...] = ()
    put_walls: tuple[StrikeLevel, ...] = ()
    strikes: NDArray[np.float64] = field(default_factory=_ro_empty)  # unique, ascending
    gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)  # calls + puts
    call_gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)
    put_gex_by_strike: NDArray[np.float64] = field(default_factory=_ro_empty)
    profile_spots: NDArray[np.float64] = field(default_factory=_ro_empty)
    profile_gex: NDArray[np.float64] = field(default_factory=_ro_empty)

    @property
    def convention(self) -> str:
        return self.params.convention

    @property
    def units(self) -> str:
        return GEX_UNITS

    def to_dict(self, *, include_profile: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (dates as ISO strings, no NaN)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "as_of": self.as_of.isoformat(),
            "spot": _num(self.spot),
            "status": self.status,
            "status_reason": self.status_reason,
            "convention": self.convention,
            "units": GEX_UNITS,
            "contracts": {
                "total": self.total_contracts,
                "eligible": self.eligible_contracts,
                "excluded": dict(self.excluded),
            },
            "gex_net": _num(self.gex_net),
            "gex_total": _num(self.gex_total),
            "position": self.position,
            "gex_slope": _num(self.gex_slope),
            "gex_slope_units": SLOPE_UNITS,
            "flip": _num(self.flip),
            "flip_reason": self.flip_reason,
            "crossings": [float(c) for c in self.crossings],
            "abs_gamma_strike": _num(self.abs_gamma_strike),
            "call_walls": [{"strike": w.strike, "gex": w.gex} for w in self.call_walls],
            "put_walls": [{"strike": w.strike, "gex": w.gex} for w in self.put_walls],
            "by_strike": {
                "strike": self.strikes.tolist(),
                "net": self.gex_by_strike.tolist(),
                "calls": self.call_gex_by_strike.tolist(),
                "puts": self.put_gex_by_strike.tolist(),
            },
            "params": asdict(self.params),
        }
        if include_profile:
            out["profile"] = {"spot": self.profile_spots.tolist(), "net": self.profile_gex.tolist()}
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DayMetrics:
        """The inverse of `to_dict()` (without the profile unless it was included): a stored
        document read back as the metrics the window summary takes."""
        by_strike = doc.get("by_strike") or {}
        profile = doc.get("profile") or {}

        def arr(values: list[float] | None) -> NDArray[np.float64]:
            return readonly(np.asarray(values or [], dtype=np.float64))

        def walls(key: str) -> tuple[StrikeLevel, ...]:
            return tuple(StrikeLevel(float(w["strike"]), float(w["gex"])) for w in doc[key])

        contracts = doc["contracts"]
        return cls(
            symbol=doc["symbol"],
            as_of=date.fromisoformat(doc["as_of"]),
            spot=doc["spot"],
            status=doc["status"],
            status_reason=doc["status_reason"],
            params=MetricsParams(**doc["params"]),
            total_contracts=int(contracts["total"]),
            eligible_contracts=int(contracts["eligible"]),
            excluded=dict(contracts["excluded"]),
            gex_net=doc["gex_net"],
            gex_total=doc["gex_total"],
            position=doc["position"],
            gex_slope=doc["gex_slope"],
            flip=doc["flip"],
            flip_reason=doc["flip_reason"],
            crossings=tuple(float(c) for c in doc["crossings"]),
            abs_gamma_strike=doc["abs_gamma_strike"],
            call_walls=walls("call_walls"),
            put_walls=walls("put_walls"),
            strikes=arr(by_strike.get("strike")),
            gex_by_strike=arr(by_strike.get("net")),
            call_gex_by_strike=arr(by_strike.get("calls")),
            put_gex_by_strike=arr(by_strike.get("puts")),
            profile_spots=arr(profile.get("spot")),
            profile_gex=arr(profile.get("net")),
        )
