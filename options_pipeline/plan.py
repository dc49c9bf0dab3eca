"""What a backfill will cost before it runs: pairs to fetch, provider requests, wall time.

Plain Python (no dagster, no I/O): the caller reads the ledger and passes what it found. A
provider may implement `estimate_requests(symbol, day, contracts_hint) -> int` (its own paging
model) and expose `rate_limit_per_minute`; without them a pair costs one request and no rate
limit is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# Chain size assumed for a symbol the ledger has never stored (contracts per session). About a
# liquid single-stock or ETF chain within 90 days; SPY and SPX chains are several times larger,
# so a first backfill of them is underestimated until one session is stored (or pass a hint).
DEFAULT_CONTRACTS_HINT = 5000
# Requests are sent one after another, so even an unthrottled provider waits for each response.
# Assumed round trip for a page when the rate limit allows more than that (stated in the plan).
ASSUMED_SECONDS_PER_REQUEST = 0.5


def provider_requests(provider: Any, symbol: str, day: date, contracts_hint: int) -> int:
    """Requests `provider.fetch_chain(symbol, day)` will send, from the provider's own model."""
    estimate = getattr(provider, "estimate_requests", None)
    if estimate is None:
        return 1  # the sensible default: one request per (session, symbol)
    return int(estimate(symbol, day, contracts_hint))


def provider_rate_per_minute(provider: Any) -> float | None:
    rate = getattr(provider, "rate_limit_per_minute", None)
    return float(rate) if rate else None


@dataclass(frozen=True, slots=True)
class SessionPlan:
    day: date
    complete: tuple[str, ...]
    to_fetch: tuple[str, ...]
    requests: int


@dataclass(frozen=True, slots=True)
class ChainHint:
    contracts: int
    source: str  # "ledger YYYY-MM-DD" or "default" or "--contracts-hint"


@dataclass(frozen=True, slots=True)
class IngestPlan:
    provider: str
    symbols: tuple[str, ...]
    sessions: tuple[SessionPlan, ...]
    hints: Mapping[str, ChainHint]
    rate_per_minute: float | None  # None: the provider has no rate limit (offline)
    interval_seconds: float | None = None  # the limiter's spacing, when the provider says it

    @property
    def pairs(self) -> int:
        return len(self.sessions) * len(self.symbols)

    @property
    def pairs_complete(self) -> int:
        return sum(len(s.complete) for s in self.sessions)

    @property
    def pairs_to_fetch(self) -> int:
        return sum(len(s.to_fetch) for s in self.sessions)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.sessions)

    @property
    def seconds_per_request(self) -> float | None:
        if self.rate_per_minute is None:
            return None
        return max(self._interval, ASSUMED_SECONDS_PER_REQUEST)

    @property
    def _interval(self) -> float:
        assert self.rate_per_minute is not None
        return self.interval_seconds or 60.0 / self.rate_per_minute

    @property
    def latency_bound(self) -> bool:
        return self.rate_per_minute is not None and self._interval < ASSUMED_SECONDS_PER_REQUEST

    @property
    def wall_seconds(self) -> float | None:
        per = self.seconds_per_request
        return None if per is None else self.requests * per


def build_plan(
    *,
    provider: Any,
    days: Sequence[date],
    symbols: Sequence[str],
    completed: set[tuple[date, str]],
    hints: Mapping[str, ChainHint],
) -> IngestPlan:
    sessions = []
    for day in days:
        done = tuple(s for s in symbols if (day, s) in completed)
        todo = tuple(s for s in symbols if (day, s) not in completed)
        cost = sum(provider_requests(provider, s, day, hints[s].contracts) for s in todo)
        sessions.append(SessionPlan(day, done, todo, cost))
    return IngestPlan(
        provider=provider.name,
        symbols=tuple(symbols),
        sessions=tuple(sessions),
        hints=dict(hints),
        rate_per_minute=provider_rate_per_minute(provider),
        interval_seconds=getattr(provider, "request_interval_seconds", None),
    )


ALL_SYMBOLS = "*"  # key of a --contracts-hint given without a symbol


def chain_hints(
    symbols: Sequence[str],
    ledger_counts: Mapping[str, tuple[int, date]],
    override: int | Mapping[str, int] | None = None,
) -> dict[str, ChainHint]:
    """Each symbol's chain size: --contracts-hint (SYMBOL=N, else a bare N for every symbol),
    else its last ledger row, else the default."""
    given = {ALL_SYMBOLS: override} if isinstance(override, int) else dict(override or {})
    out = {}
    for s in symbols:
        hint = given.get(s, given.get(ALL_SYMBOLS))
        if hint is not None:
            out[s] = ChainHint(hint, "--contracts-hint")
        elif s in ledger_counts:
            count, day = ledger_counts[s]
            out[s] = ChainHint(count, f"ledger {day.isoformat()}")
        else:
            out[s] = ChainHint(DEFAULT_CONTRACTS_HINT, "default")
    return out


def format_duration(seconds: float) -> str:
    """'≈5 h 30 min' style: days/hours/minutes, seconds only under a minute."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes = round(s / 60)
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    parts = [f"{d} d"] if d else []
    if h or d:
        parts.append(f"{h} h")
    parts.append(f"{m} min")
    return " ".join(parts)


def format_rate(per_minute: float) -> str:
    if per_minute >= 120:
        return f"{per_minute / 60:,.0f} req/s"
    return (
        f"{per_minute:,.0f} req/min"
        if per_minute == int(per_minute)
        else f"{per_minute:,.2f} req/min"
    )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def headline(plan: IngestPlan) -> str:
    """'153 sessions × 4 symbols, 412 pairs to fetch, ≈1,650 requests, ≈5 h 30 min at 5 req/min'"""
    text = (
        f"{_n(len(plan.sessions), 'session')} × {_n(len(plan.symbols), 'symbol')}, "
        f"{plan.pairs_to_fetch:,} pairs to fetch ({plan.pairs_complete:,} already complete), "
        f"≈{plan.requests:,} requests"
    )
    if plan.wall_seconds is None:
        return text + ", no rate limit (offline provider)"
    assert plan.rate_per_minute is not None
    text += f", ≈{format_duration(plan.wall_seconds)} at {format_rate(plan.rate_per_minute)}"
    if plan.latency_bound:
        text += f" (response-bound: {ASSUMED_SECONDS_PER_REQUEST} s per request assumed)"
    return text


def _runs(sessions: Sequence[SessionPlan]) -> list[tuple[SessionPlan, SessionPlan, int]]:
    """Consecutive sessions with the same symbols complete/to fetch and cost, collapsed."""
    runs: list[list[Any]] = []
    for s in sessions:
        last = runs[-1][1] if runs else None
        if last is not None and (last.complete, last.to_fetch, last.requests) == (
            s.complete,
            s.to_fetch,
            s.requests,
        ):
            runs[-1][1] = s
            runs[-1][2] += 1
        else:
            runs.append([s, s, 1])
    return [(a, b, n) for a, b, n in runs]


def render(plan: IngestPlan) -> list[str]:
    """The dry run's text: headline, chain-size hints, then sessions (identical runs collapsed)."""
    lines = [f"plan ({plan.provider}): {headline(plan)}"]
    lines.append(
        "chain size per symbol (contracts): "
        + ", ".join(f"{s} {h.contracts:,} ({h.source})" for s, h in plan.hints.items())
    )
    lines.append(f"{'sessions':<24}{'n':>4}  {'requests':>9}  complete / to fetch")
    for first, last, n in _runs(plan.sessions):
        span = str(first.day) if n == 1 else f"{first.day}..{last.day}"
        lines.append(
            f"{span:<24}{n:>4}  {first.requests * n:>9,}  "
            f"{' '.join(first.complete) or '-'} / {' '.join(first.to_fetch) or '-'}"
        )
    lines.append("nothing fetched or written (dry run)")
    return lines


def to_dict(plan: IngestPlan) -> dict[str, Any]:
    """The stable --json shape of a plan (keys never renamed; new keys may be added)."""
    return {
        "provider": plan.provider,
        "symbols": list(plan.symbols),
        "sessions": len(plan.sessions),
        "pairs": plan.pairs,
        "pairs_complete": plan.pairs_complete,
        "pairs_to_fetch": plan.pairs_to_fetch,
        "requests": plan.requests,
        "rate_limit_per_minute": plan.rate_per_minute,
        "seconds_per_request": plan.seconds_per_request,
        "wall_seconds": None if plan.wall_seconds is None else round(plan.wall_seconds, 1),
        "chain_size_hints": {
            s: {"contracts": h.contracts, "source": h.source} for s, h in plan.hints.items()
        },
        "per_session": [
            {
                "session": s.day.isoformat(),
                "complete": list(s.complete),
                "to_fetch": list(s.to_fetch),
                "requests": s.requests,
            }
            for s in plan.sessions
        ],
        "headline": headline(plan),
    }


def rows_per_page_requests(rows: int, page: int) -> int:
    """Pages needed for `rows` rows at `page` rows per page (at least one request)."""
    return max(1, math.ceil(max(rows, 0) / page))
