"""ingest_options off a terminal: one INFO line per session, heartbeats, plain progress lines."""

import re

from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline


def test_one_info_line_per_session_heartbeats_and_progress(pipeline_env, db, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY", "QQQ", "IWM").code == 0
    result = ingest_options(
        capsys, "--start-date", "2025-12-15", "--end-date", "2025-12-17", "--heartbeat", "2"
    )
    assert result.code == 0, result.err
    err = result.err.splitlines()
    per_session = [line for line in err if re.match(r"INFO 2025-12-1\d: ", line)]
    assert [line.split(":")[0] for line in per_session if "heartbeat" not in line] == [
        "INFO 2025-12-15",
        "INFO 2025-12-16",
        "INFO 2025-12-17",
    ]
    assert all(
        re.fullmatch(
            r"INFO 2025-12-1\d: 3 ingested, 0 skipped, 0 failed, 900 rows, "
            r"0 requests, \d+\.\d s",
            line,
        )
        for line in per_session
        if "heartbeat" not in line
    )
    # heartbeat every 2 symbols per day (not after the last one)
    assert [line for line in per_session if "heartbeat" in line] == [
        f"INFO 2025-12-{d}: heartbeat 2/3 symbols processed" for d in (15, 16, 17)
    ]
    progress = [line for line in err if line.startswith("progress ")]
    assert progress[0].startswith("progress sessions 1/3, pairs 3/9 (3 fetched), rows 900, ")
    assert progress[-1].startswith(
        "progress sessions 3/3, pairs 9/9 (9 fetched), rows 2,700, requests 0, "
    )
    assert progress[-1].endswith("ETA 0 s")
    assert not any("symbols to check" in line or "options_chains done" in line for line in err)
