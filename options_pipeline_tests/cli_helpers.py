"""Run the project's command lines in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from options_pipeline.cli import ingest_options_main, options_pipeline_main


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def _run(main, capsys: pytest.CaptureFixture[str], argv: list[str]) -> CliResult:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors exit through SystemExit
        code = exc.code
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def ingest_options(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    return _run(ingest_options_main, capsys, list(argv))


def options_pipeline(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    return _run(options_pipeline_main, capsys, list(argv))
