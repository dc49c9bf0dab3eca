"""Dealer gamma metrics: pure numpy math, no I/O and no dagster."""

from options_pipeline.metrics.chain import ChainArrays
from options_pipeline.metrics.exposure import compute_day_metrics
from options_pipeline.metrics.params import (
    CONVENTIONS,
    GEX_UNITS,
    DayMetrics,
    MetricsParams,
    StrikeLevel,
    params_fingerprint,
)
from options_pipeline.metrics.window import WindowParams, WindowSummary, summarize_window

__all__ = [
    "CONVENTIONS",
    "GEX_UNITS",
    "ChainArrays",
    "DayMetrics",
    "MetricsParams",
    "StrikeLevel",
    "WindowParams",
    "WindowSummary",
    "compute_day_metrics",
    "params_fingerprint",
    "summarize_window",
]
