"""Extrapolation of the year-scale benchmark to a larger deployment: pure arithmetic, no I/O.

`bench_scale` measures one simulated year for a small watchlist; `extrapolate` scales its
per-row, per-(session, symbol) and per-partition figures to N symbols x M sessions and says which
limit is reached first. Every assumption is a field of `Deployment` or `Measured`, so the
BENCHMARKS.md section can print them next to the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GB = 1e9
HOUR = 3600.0
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Measured:
    """Figures of the year-scale run (the largest checkpoint)."""

    bytes_per_mrow: float  # options_chains heap + indexes + TOAST + the ledger, per 1e6 rows
    ingest_rows_per_s: float  # ingest_options wall, start-up and Dagster runs included
    dealer_s_per_symbol_session: float  # dealer backfill wall / (sessions x symbols)
    event_log_bytes_per_partition: float  # both assets' runs, on disk, per session
    symbols: int  # watchlist size the event-log figure was measured with
    contracts: int  # chain size the dealer figure was measured with


@dataclass(frozen=True, slots=True)
class ProviderLimit:
    """How a provider paces a backfill: requests per (session, symbol) and the rate allowed."""

    name: str
    requests_per_pair: float
    requests_per_s: float  # sustained rate: the rate limit, or concurrency / round trip
    source: str  # where the figure comes from (README, docs), shown in the table


@dataclass(frozen=True, slots=True)
class Deployment:
    symbols: int
    sessions: int
    contracts_per_symbol: float  # mean chain size (contracts per session)
    # event-log bytes of a partition grow with the symbols it names (log lines, metadata);
    # assumed proportional: an upper bound, part of each run's events is fixed
    event_log_scales_with_symbols: bool = True

    @property
    def pairs(self) -> int:
        return self.symbols * self.sessions

    @property
    def rows(self) -> float:
        return self.pairs * self.contracts_per_symbol


@dataclass(frozen=True, slots=True)
class Budget:
    """What each resource may take: the limit is hit when a projection exceeds it."""

    disk_bytes: float  # the volume the database lives on
    backfill_s: float  # how long the one-off history backfill may run
    event_log_bytes: float  # Dagster's event_logs table size the instance is sized for


@dataclass(frozen=True, slots=True)
class Projection:
    rows: float
    disk_bytes: float
    ingest_s: float
    dealer_s: float
    event_log_bytes: float
    provider_s: dict[str, float]
    daily_rows: float
    daily_ingest_s: float
    daily_provider_s: dict[str, float]

    def fractions(self, budget: Budget, provider: str) -> dict[str, float]:
        """Each limit's share of its budget for a backfill through `provider` (>= 1: hit)."""
        return {
            "disk": self.disk_bytes / budget.disk_bytes,
            "COPY (ingest)": self.ingest_s / budget.backfill_s,
            f"provider ({provider})": self.provider_s[provider] / budget.backfill_s,
            "dealer backfill": self.dealer_s / budget.backfill_s,
            "event log": self.event_log_bytes / budget.event_log_bytes,
        }

    def first_limit(self, budget: Budget, provider: str) -> tuple[str, float]:
        """The limit with the largest share of its budget: the one a growing deployment hits
        first (the ratio says how far past, or short of, it this deployment is)."""
        shares = self.fractions(budget, provider)
        name = max(shares, key=lambda k: shares[k])
        return name, shares[name]


def polygon_history_requests(contracts: float, page: int = 5000, index_share: float = 0.0) -> float:
    """Requests per past (session, symbol) on Massive/Polygon: analytics pages plus the open-
    interest pages, 2 * ceil(N / page), plus one per index (its second root, SPXW) times the
    share of indexes. The model of `PolygonProvider.estimate_requests`."""
    return 2 * math.ceil(contracts / page) + index_share


def extrapolate(m: Measured, d: Deployment, providers: list[ProviderLimit]) -> Projection:
    per_partition = m.event_log_bytes_per_partition
    if d.event_log_scales_with_symbols:
        per_partition *= d.symbols / m.symbols
    return Projection(
        rows=d.rows,
        disk_bytes=d.rows / 1e6 * m.bytes_per_mrow,
        ingest_s=d.rows / m.ingest_rows_per_s,
        # the dealer reads and re-prices every contract: assumed proportional to the chain size
        dealer_s=d.pairs * m.dealer_s_per_symbol_session * d.contracts_per_symbol / m.contracts,
        event_log_bytes=per_partition * d.sessions,
        provider_s={p.name: d.pairs * p.requests_per_pair / p.requests_per_s for p in providers},
        daily_rows=d.symbols * d.contracts_per_symbol,
        daily_ingest_s=d.symbols * d.contracts_per_symbol / m.ingest_rows_per_s,
        daily_provider_s={
            p.name: d.symbols * p.requests_per_pair / p.requests_per_s for p in providers
        },
    )


def human_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def human_seconds(s: float) -> str:
    if s >= 2 * DAY:
        return f"{s / DAY:.3g} days"
    if s >= 2 * HOUR:
        return f"{s / HOUR:.3g} h"
    if s >= 120:
        return f"{s / 60:.3g} min"
    return f"{s:.3g} s"
