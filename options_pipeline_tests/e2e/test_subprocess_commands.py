"""The documented commands as real subprocesses: `python -m scripts.ingest_options` from a
checkout, then `dagster asset materialize --partition-range` on the same definitions."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from options_pipeline_tests.cli_helpers import options_pipeline

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(pipeline_env, capsys):
    assert options_pipeline(capsys, "watchlist", "add", "demo", "SPY", "QQQ", "IWM").code == 0
    return pipeline_env


def test_module_command_and_dagster_partition_range_as_subprocesses(demo, db):
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    module = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.ingest_options",
            "--provider",
            "sample",
            "--start-date",
            "2025-12-15",
            "--end-date",
            "2025-12-16",
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert module.returncode == 0, module.stderr
    assert "complete: 2 day(s)" in module.stdout
    # a library's preview/beta notice (with its source line) is nothing a CLI user can act on
    assert "Warning" not in module.stderr, module.stderr
    dagster = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "options_pipeline.definitions",
            "--select",
            "options_chains",
            "--partition-range",
            "2025-12-15...2025-12-17",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert dagster.returncode == 0, dagster.stderr[-2000:]
    per_day = db.execute(
        "SELECT as_of, count(*) FROM option_chain_snapshots GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_day == [(date(2025, 12, d), 3) for d in (15, 16, 17)]
