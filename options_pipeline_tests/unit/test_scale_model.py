"""The year-scale benchmark's extrapolation and report plumbing, against figures worked by hand.

No timing is checked: the inputs are made-up round numbers whose products are easy to verify.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from options_pipeline_tests.benchmarks import bench_scale
from options_pipeline_tests.benchmarks import scale_model as sm

MEASURED = sm.Measured(
    bytes_per_mrow=250e6,
    ingest_rows_per_s=20_000,
    dealer_s_per_symbol_session=0.1,
    event_log_bytes_per_partition=500e3,
    symbols=20,
    contracts=6000,
)
PAID = sm.ProviderLimit("paid", requests_per_pair=4, requests_per_s=100, source="test")
FREE = sm.ProviderLimit("free", requests_per_pair=4, requests_per_s=5 / 60, source="test")


def test_extrapolation_matches_hand_arithmetic() -> None:
    d = sm.Deployment(symbols=500, sessions=1260, contracts_per_symbol=6000)
    p = sm.extrapolate(MEASURED, d, [PAID, FREE])
    # 500 x 1,260 = 630,000 pairs; x 6,000 = 3.78e9 rows
    assert p.rows == 3_780_000_000
    assert p.disk_bytes == pytest.approx(3780 * 250e6)  # 945 GB
    assert p.ingest_s == pytest.approx(189_000)  # 3.78e9 / 20,000 rows/s
    assert p.dealer_s == pytest.approx(63_000)  # 630,000 x 0.1 s
    assert p.event_log_bytes == pytest.approx(500e3 * 25 * 1260)  # 25x the symbols: 15.75 GB
    assert p.provider_s["paid"] == pytest.approx(25_200)  # 2.52M requests at 100/s
    assert p.provider_s["free"] == pytest.approx(30_240_000)  # at 5/min: 350 days
    assert p.daily_rows == 3_000_000
    assert p.daily_ingest_s == pytest.approx(150)
    # half the chain: half the dealer time (630,000 x 0.1 s x 3,000 / 6,000)
    half = sm.extrapolate(MEASURED, sm.Deployment(500, 1260, 3000), [PAID])
    assert half.dealer_s == pytest.approx(31_500)


def test_event_log_fixed_per_partition_when_asked() -> None:
    d = sm.Deployment(500, 1260, 6000, event_log_scales_with_symbols=False)
    assert sm.extrapolate(MEASURED, d, [PAID]).event_log_bytes == pytest.approx(630e6)


def test_first_limit_is_the_largest_share_of_its_budget() -> None:
    p = sm.extrapolate(MEASURED, sm.Deployment(500, 1260, 6000), [PAID, FREE])
    budget = sm.Budget(disk_bytes=2e12, backfill_s=7 * 86_400, event_log_bytes=1e11)
    # disk 945e9/2e12 = 0.4725; ingest 189,000/604,800 = 0.3125; event log 0.1575
    assert p.first_limit(budget, "paid") == ("disk", pytest.approx(0.4725))
    # at 5 requests/min the provider takes 30,240,000 / 604,800 = 50 backfill windows
    assert p.first_limit(budget, "free") == ("provider (free)", pytest.approx(50.0))


def test_polygon_requests_per_pair() -> None:
    # analytics + open-interest pages at 5,000 per page (README "Massive/Polygon")
    assert sm.polygon_history_requests(6000) == 4
    assert sm.polygon_history_requests(5000) == 2
    assert sm.polygon_history_requests(20_000, index_share=1) == 9


def test_human_units() -> None:
    assert sm.human_bytes(945e9) == "945 GB"
    assert sm.human_bytes(1.02e12) == "1.02 TB"
    assert sm.human_seconds(189_000) == "2.19 days"
    assert sm.human_seconds(25_200) == "7 h"
    assert sm.human_seconds(90) == "90 s"


def test_growth_verdict() -> None:
    assert bench_scale.growth(100, 110).startswith("linear")
    assert bench_scale.growth(100, 130) == "worse than linear (+30%)"
    assert bench_scale.growth(100, 80) == "better than linear (-20%)"
    assert bench_scale.growth(300, 310, "flat") == "flat (+3%)"
    assert bench_scale.growth(300, 600, "flat") == "grows (+100%)"


def test_year_checkpoints_follow_the_published_calendar() -> None:
    # 2025: 261 weekdays minus 11 weekday closures (NYSE's holiday list plus 2025-01-09) = 250;
    # January: 23 weekdays minus Jan 1, 9 and 20 = 20; Jan-Mar adds Feb (19) and Mar (21)
    plan = bench_scale.checkpoints(date(2025, 1, 2), 12)
    assert [m for m, _ in plan] == [1, 3, 12]
    sizes = [len(days) for _, days in plan]
    assert sizes[0] == 20 and sum(sizes[:2]) == 60 and sum(sizes) == 250
    assert plan[-1][1][-1] == date(2025, 12, 31)


def test_section_is_replaced_in_place_and_kept(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\ntable\n\n<!-- other -->\nx\n<!-- /other -->\n")
    first = f"{bench_scale.SECTION_START}\nold\n{bench_scale.SECTION_END}\n"
    bench_scale.write_section(first, doc)
    bench_scale.write_section(first.replace("old", "new"), doc)
    text = doc.read_text()
    assert text.count(bench_scale.SECTION_START) == 1 and "old" not in text
    assert "<!-- other -->\nx\n<!-- /other -->" in text
    assert bench_scale.kept_section(doc) == first.replace("old", "new").rstrip("\n")
