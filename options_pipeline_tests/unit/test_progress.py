"""The progress line: figures from a constructed run (fake clock), live and plain output."""

import io

from options_pipeline.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_carry_the_figures_and_the_eta_from_pairs_fetched():
    clock, out = Clock(), io.StringIO()
    p = Progress(
        sessions=4, pairs=8, pairs_to_fetch=6, stream=out, live=False, every_seconds=0, clock=clock
    )
    clock.now += 60  # session 1: both pairs complete already (skipped), nothing fetched
    p.session_done(pairs=2, fetched=0, rows=0, requests=0)
    clock.now += 120  # session 2: 2 pairs fetched, 8 requests
    p.session_done(pairs=2, fetched=2, rows=600, requests=8)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "progress sessions 1/4, pairs 2/8 (0 fetched), rows 0, requests 0, "
        "rate 0.0 req/min, elapsed 1 min, ETA 3 min"
    )  # 60 s/session × 3
    # 180 s for 2 fetched pairs, 4 still to fetch -> 360 s; 8 requests in 180 s = 2.7/min
    assert lines[1] == (
        "progress sessions 2/4, pairs 4/8 (2 fetched), rows 600, requests 8, "
        "rate 2.7 req/min, elapsed 3 min, ETA 6 min"
    )
    clock.now += 30
    assert p.eta_seconds() == 330  # counts down between sessions
    p.session_done(pairs=2, fetched=2, rows=600, requests=8)
    p.session_done(pairs=2, fetched=2, rows=600, requests=8)
    assert out.getvalue().splitlines()[-1].endswith("ETA 0 s")


def test_plain_lines_are_periodic_but_the_last_session_always_prints():
    clock, out = Clock(), io.StringIO()
    p = Progress(
        sessions=5, pairs=5, pairs_to_fetch=5, stream=out, live=False, every_seconds=30, clock=clock
    )
    for _ in range(5):
        clock.now += 10
        p.session_done(pairs=1, fetched=1, rows=1, requests=1)
    printed = [line.split(",")[0] for line in out.getvalue().splitlines()]
    assert printed == ["progress sessions 1/5", "progress sessions 4/5", "progress sessions 5/5"]


def test_live_line_is_redrawn_in_place_and_log_lines_go_above_it():
    clock, out = Clock(), io.StringIO()
    p = Progress(sessions=2, pairs=2, pairs_to_fetch=2, stream=out, live=True, clock=clock)
    clock.now += 5
    p.session_done(pairs=1, fetched=1, rows=10, requests=2)
    p.log("INFO 2025-12-16: 1 ingested")
    clock.now += 5
    p.session_done(pairs=1, fetched=1, rows=10, requests=2)
    p.close()
    text = out.getvalue()
    assert "\n" not in text.split("INFO")[0]  # the first state was drawn with \r, no newline
    first = "sessions 1/2, pairs 1/2 (1 fetched), rows 10, requests 2, rate 24.0 req/min"
    assert text.startswith(f"\r\x1b[2K{first}")
    # the log line clears the live line, prints, and redraws it
    assert f"\r\x1b[2KINFO 2025-12-16: 1 ingested\n{first}" in text
    assert text.endswith("ETA 0 s\n")
    assert text.count("\n") == 2


def test_quiet_progress_writes_nothing_but_log_lines():
    out = io.StringIO()
    p = Progress(sessions=1, pairs=1, pairs_to_fetch=1, stream=out, live=False, shown=False)
    p.session_done(pairs=1, fetched=1, rows=1, requests=1)
    p.log("WARNING something")
    p.close()
    assert out.getvalue() == "WARNING something\n"
