"""Every --help states exit codes, the environment it reads and the default provider."""

import pytest

from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline

PIPELINE_HELPS = [
    [],
    ["db"],
    ["db", "init"],
    ["watchlist"],
    ["watchlist", "add"],
    ["metrics"],
    ["metrics", "show"],
    ["gaps"],
    ["provider", "check"],
]


@pytest.mark.parametrize("words", PIPELINE_HELPS, ids=lambda w: " ".join(w) or "top")
def test_every_help_lists_exit_codes_environment_and_default_provider(words, capsys, monkeypatch):
    monkeypatch.delenv("OPTIONS_PIPELINE_PROVIDER", raising=False)
    result = options_pipeline(capsys, *words, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())  # help wraps lines
    assert "exit codes: 0 " in text and "2 usage or environment error" in text
    assert "environment read: DATABASE_URL" in text and "OPTIONS_PIPELINE_HOME" in text
    assert "default provider: sample" in text


def test_ingest_options_help_names_provider_variables(capsys, monkeypatch):
    monkeypatch.setenv("OPTIONS_PIPELINE_PROVIDER", "polygon")
    result = ingest_options(capsys, "--help")
    text = " ".join(result.out.split())
    assert result.code == 0
    assert "3 a Dagster run failed" in text and "POLYGON_RATE_LIMIT_PER_MINUTE" in text
    assert "default provider: polygon" in text


def test_no_arguments_prints_the_overview_not_an_argparse_error(capsys):
    result = options_pipeline(capsys)
    assert result.code == 2
    assert result.err == ""
    assert "usage: options-pipeline" in result.out and "gaps" in result.out
    assert "ingest_options --start-date D --end-date E --dry-run" in result.out
