"""Backfill plans: counts, request sums, wall time and their text, on constructed inputs."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from options_pipeline.plan import (
    ASSUMED_SECONDS_PER_REQUEST,
    DEFAULT_CONTRACTS_HINT,
    ChainHint,
    build_plan,
    chain_hints,
    format_duration,
    headline,
    render,
    to_dict,
)


@dataclass
class PagedProvider:
    """A provider whose model is ceil(contracts / page) requests per pair."""

    name: str = "paged"
    page: int = 1000
    rate_limit_per_minute: float | None = 5.0

    def estimate_requests(self, symbol, day, contracts_hint):
        return -(-contracts_hint // self.page)


class NoModel:
    name = "plain"


DAYS = [date(2025, 6, 2) + timedelta(d) for d in range(5)]  # Mon..Fri


def test_pairs_requests_and_wall_time():
    done = {(DAYS[0], "SPY"), (DAYS[0], "QQQ"), (DAYS[1], "SPY")}
    hints = {"QQQ": ChainHint(2500, "ledger 2025-05-30"), "SPY": ChainHint(4000, "default")}
    plan = build_plan(
        provider=PagedProvider(), days=DAYS, symbols=["QQQ", "SPY"], completed=done, hints=hints
    )
    assert (plan.pairs, plan.pairs_complete, plan.pairs_to_fetch) == (10, 3, 7)
    # QQQ 3 pages on 4 days, SPY 4 pages on 3 days
    assert plan.requests == 3 * 4 + 4 * 3 == 24
    assert plan.wall_seconds == pytest.approx(24 * 12.0)  # 5 req/min = one per 12 s
    assert headline(plan) == (
        "5 sessions × 2 symbols, 7 pairs to fetch (3 already complete), "
        "≈24 requests, ≈5 min at 5 req/min"
    )
    assert [s.requests for s in plan.sessions] == [0, 3, 7, 7, 7]
    doc = to_dict(plan)
    assert doc["per_session"][1] == {
        "session": "2025-06-03",
        "complete": ["SPY"],
        "to_fetch": ["QQQ"],
        "requests": 3,
    }
    assert (doc["pairs_to_fetch"], doc["requests"], doc["wall_seconds"]) == (7, 24, 288.0)
    lines = render(plan)
    assert lines[2].split()[:3] == ["sessions", "n", "requests"]
    assert lines[3].startswith("2025-06-02 ") and lines[3].endswith("QQQ SPY / -")
    assert lines[5].split() == ["2025-06-04..2025-06-06", "3", "21", "-", "/", "QQQ", "SPY"]
    assert lines[-1] == "nothing fetched or written (dry run)"


def test_the_example_in_the_requirements_reads_the_same():
    """153 sessions × 4 symbols with 412 pairs to fetch at 4 requests each, 5 req/min."""
    days = [date(2025, 1, 1) + timedelta(d) for d in range(153)]
    symbols = ["A", "B", "C", "D"]
    done = {(d, s) for d in days for s in symbols}
    todo = [(d, s) for d in days for s in symbols][:412]
    done -= set(todo)
    plan = build_plan(
        provider=PagedProvider(page=1000),
        days=days,
        symbols=symbols,
        completed=done,
        hints=chain_hints(symbols, {}, 4000),
    )
    assert plan.requests == 1648
    # 1,648 × 12 s = 19,776 s = 5 h 29.6 min
    assert headline(plan) == (
        "153 sessions × 4 symbols, 412 pairs to fetch (200 already "
        "complete), ≈1,648 requests, ≈5 h 30 min at 5 req/min"
    )


def test_fast_limits_are_response_bound_and_say_so():
    plan = build_plan(
        provider=PagedProvider(rate_limit_per_minute=6000),
        days=DAYS[:1],
        symbols=["SPY"],
        completed=set(),
        hints=chain_hints(["SPY"], {}, 10_000),
    )
    assert plan.requests == 10
    assert plan.wall_seconds == pytest.approx(10 * ASSUMED_SECONDS_PER_REQUEST)
    assert headline(plan).endswith(
        f"at 100 req/s (response-bound: {ASSUMED_SECONDS_PER_REQUEST} s per request assumed)"
    )


def test_a_provider_without_a_model_costs_one_request_per_pair_and_no_rate():
    plan = build_plan(
        provider=NoModel(),
        days=DAYS,
        symbols=["SPY"],
        completed=set(),
        hints=chain_hints(["SPY"], {}),
    )
    assert plan.requests == 5 and plan.wall_seconds is None
    assert headline(plan).endswith("≈5 requests, no rate limit (offline provider)")


def test_hints_prefer_override_then_ledger_then_default():
    hints = chain_hints(["A", "B"], {"A": (812, date(2025, 12, 22))})
    assert hints == {
        "A": ChainHint(812, "ledger 2025-12-22"),
        "B": ChainHint(DEFAULT_CONTRACTS_HINT, "default"),
    }
    assert chain_hints(["A"], {"A": (812, date(2025, 12, 22))}, 99)["A"] == ChainHint(
        99, "--contracts-hint"
    )
    per_symbol = chain_hints(
        ["A", "B", "C"], {"C": (7, date(2025, 12, 22))}, {"A": 20_000, "*": 9_000}
    )
    assert [h.contracts for h in per_symbol.values()] == [20_000, 9_000, 9_000]
    only_a = chain_hints(["A", "C"], {"C": (7, date(2025, 12, 22))}, {"A": 20_000})
    assert only_a["C"] == ChainHint(7, "ledger 2025-12-22")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59.4, "59 s"),
        (60, "1 min"),
        (19_776, "5 h 30 min"),
        (3600, "1 h 0 min"),
        (86_400 + 7260, "1 d 2 h 1 min"),
    ],
)
def test_durations(seconds, text):
    assert format_duration(seconds) == text
