"""`options-pipeline provider check` against the local Polygon server (no database needed)."""

from __future__ import annotations

import pytest

from options_pipeline_tests.cli_helpers import options_pipeline
from options_pipeline_tests.polygon_server import Fault, PolygonTestServer


@pytest.fixture
def env(srv: PolygonTestServer, monkeypatch: pytest.MonkeyPatch) -> PolygonTestServer:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.setenv("MASSIVE_API_KEY", srv.api_key)
    monkeypatch.setenv("POLYGON_BASE_URL", srv.base_url)
    monkeypatch.setenv("POLYGON_RATE_LIMIT_PER_MINUTE", "60000")
    return srv


def test_check_passes_when_every_required_field_maps(env, capsys) -> None:
    result = options_pipeline(
        capsys, "provider", "check", "polygon", "--symbol", "^SPX", "--date", "2025-03-13"
    )
    assert result.code == 0, result.out + result.err
    out = result.out
    assert "provider check: polygon, SPX, session 2025-03-13" in out
    assert "[ok] analytics: GET /options/v1/analytics?underlying_ticker=SPX&date=2025-03-13" in out
    assert "[ok] open_interest: GET /options/v1/open-interest?root=SPXW&date=2025-03-12" in out
    assert "[ok] snapshot: GET /v3/snapshot/options/I:SPX?limit=10" in out
    assert "OCC roots in the first analytics rows: SPXW" in out  # nearest expiry: weekly
    assert "requests used: 3" in out and "result: OK" in out
    assert env.count() == 3 and env.api_key not in out + result.err


def test_check_fails_with_the_missing_field_and_the_plan_error(env, capsys) -> None:
    env.add_fault(Fault.rename_field("delta", "Delta"), endpoint="analytics")
    env.add_fault(Fault.plan_error(), endpoint="open_interest")
    result = options_pipeline(capsys, "provider", "check", "polygon", "--date", "2025-03-13")
    assert result.code == 1
    assert "[FAIL] analytics" in result.out and "missing (required): delta" in result.out
    assert "Delta" in result.out  # the name the answer really carries
    assert "[FAIL] open_interest" in result.out and "HTTP 403" in result.out
    assert "plan doesn't include" in result.out and "result: FAILED" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample"], "provider 'sample' has no check (offline"),
        (["polygon", "--date", "2025-03-15"], "must be a past trading session"),
        (["polygon", "--date", "2999-01-04"], "must be a past trading session"),
        (["polygon", "--symbol", "I:SPY"], "invalid symbol"),
    ],
)
def test_check_usage_errors_are_one_line(env, capsys, argv, message) -> None:
    result = options_pipeline(capsys, "provider", "check", *argv)
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert env.count() == 0


def test_check_without_a_key_is_one_line(env, capsys, monkeypatch) -> None:
    monkeypatch.delenv("MASSIVE_API_KEY")
    result = options_pipeline(capsys, "provider", "check", "polygon")
    assert result.code == 2 and "MASSIVE_API_KEY" in result.err
    assert len(result.err.strip().splitlines()) == 1
