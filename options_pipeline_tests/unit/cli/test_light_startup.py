"""--help and usage errors answer before psycopg, numpy or Dagster load (timed in benchmarks)."""

from __future__ import annotations

import subprocess
import sys

from options_pipeline.provider_names import PROVIDER_NAMES

HEAVY = ("dagster", "psycopg", "numpy", "scipy", "pandas", "sqlalchemy")

PROBE = """
import sys
from options_pipeline import cli
for main, argv in ((cli.options_pipeline_main, ["--help"]),
                   (cli.options_pipeline_main, ["gaps", "--help"]),
                   (cli.options_pipeline_main, ["files", "--help"]),
                   (cli.ingest_options_main, ["--help"]),
                   (cli.ingest_options_main, ["--start-date", "2025-01-06"]),
                   (cli.ingest_options_main, ["--as-of", "2025-01-04"])):
    try:
        main(argv)
    except SystemExit:
        pass
print("LOADED", sorted(m for m in %r if m in sys.modules))
"""


def test_help_and_usage_errors_import_no_heavy_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "requires --end-date" in out.stderr and "is not an NYSE session" in out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED []"


def test_provider_names_are_the_resources_names() -> None:
    from options_pipeline.resources import PROVIDER_RESOURCES

    assert tuple(PROVIDER_RESOURCES) == PROVIDER_NAMES
