"""`check()` of the ThetaData, ORATS and Alpha Vantage providers against their stand-ins."""

from __future__ import annotations

from datetime import date

from options_pipeline_tests.alphavantage_server import AlphaVantageTestServer
from options_pipeline_tests.orats_server import OratsTestServer
from options_pipeline_tests.stand_in import Fault
from options_pipeline_tests.thetadata_server import ThetaTestServer

DAY = date(2025, 12, 18)


def test_thetadata_check_covers_both_endpoints_of_every_root(theta: ThetaTestServer) -> None:
    report = theta.provider().check("SPX", DAY)
    assert report.ok and report.requests == 4 == theta.count()
    assert [e.name for e in report.endpoints] == [
        "greeks/eod (SPX)",
        "open_interest (SPX)",
        "greeks/eod (SPXW)",
        "open_interest (SPXW)",
    ]
    assert ("implied_volatility", "implied_vol") in report.endpoints[0].matched
    assert "result: OK" in report.render()
    theta.add_fault(Fault("bad_header"), endpoint="greeks")
    theta.add_fault(Fault("permission"), endpoint="open_interest")
    failed = theta.provider().check("SPY", DAY)
    assert not failed.ok
    greeks, oi = failed.endpoints
    assert greeks.error and "CSV header lacks right" in greeks.status
    assert oi.error and "471" in oi.status and "PERMISSION" in oi.status


def test_orats_check_names_the_missing_field(orats: OratsTestServer) -> None:
    report = orats.provider().check("SPY", DAY)
    assert report.ok and report.requests == 1
    [strikes] = report.endpoints
    assert strikes.request == "/datav2/hist/strikes?ticker=SPY&tradeDate=2025-12-18"
    assert ("call.open_interest", "callOpenInterest") in strikes.matched
    orats.add_fault(Fault("rename", data=("callOpenInterest", "callOI")))
    failed = orats.provider().check("SPY", DAY)
    assert not failed.ok and failed.endpoints[0].missing == ("call.open_interest",)
    assert "callOI" in failed.endpoints[0].fields_seen
    assert orats.secret not in report.render() + failed.render()


def test_alphavantage_check_fails_on_premium_sample_data(av: AlphaVantageTestServer) -> None:
    report = av.provider().check("SPY", DAY)
    assert report.ok and report.requests == 2
    assert [e.name for e in report.endpoints] == ["HISTORICAL_OPTIONS", "TIME_SERIES_DAILY"]
    av.add_fault(Fault("premium_sample"), endpoint="options")
    av.add_fault(Fault("rename", data=("delta", "Delta")), endpoint="options")
    failed = av.provider().check("SPY", DAY)
    assert not failed.ok and failed.endpoints[0].error
    assert "artificial sample" in failed.endpoints[0].status
    renamed = av.provider().check("SPY", DAY)
    assert renamed.endpoints[0].missing == ("delta",) and renamed.endpoints[1].ok
    assert av.secret not in report.render() + failed.render() + renamed.render()


def test_provider_check_cli_for_a_vendor(orats: OratsTestServer, monkeypatch, capsys) -> None:
    from options_pipeline_tests.cli_helpers import options_pipeline

    monkeypatch.setenv("ORATS_API_TOKEN", orats.secret or "")
    monkeypatch.setenv("ORATS_BASE_URL", orats.base_url)
    result = options_pipeline(capsys, "provider", "check", "orats", "--date", "2025-12-18")
    assert result.code == 0, result.out + result.err
    assert "[ok] strikes: GET /datav2/hist/strikes?ticker=SPY&tradeDate=2025-12-18" in result.out
    assert "result: OK" in result.out and orats.secret not in result.out + result.err
    orats.add_fault(Fault("plan"))
    failed = options_pipeline(capsys, "provider", "check", "orats", "--date", "2025-12-18")
    assert failed.code == 1 and "[FAIL] strikes" in failed.out and "403" not in failed.err
