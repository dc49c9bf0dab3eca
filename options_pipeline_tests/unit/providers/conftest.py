"""The local vendor servers, started per test (fresh request log and faults)."""

from collections.abc import Iterator

import pytest

from options_pipeline_tests.alphavantage_server import AlphaVantageTestServer
from options_pipeline_tests.orats_server import OratsTestServer
from options_pipeline_tests.polygon_server import PolygonTestServer
from options_pipeline_tests.thetadata_server import ThetaTestServer


@pytest.fixture
def srv() -> Iterator[PolygonTestServer]:
    with PolygonTestServer() as server:
        yield server


@pytest.fixture
def theta() -> Iterator[ThetaTestServer]:
    with ThetaTestServer() as server:
        yield server


@pytest.fixture
def orats() -> Iterator[OratsTestServer]:
    with OratsTestServer() as server:
        yield server


@pytest.fixture
def av() -> Iterator[AlphaVantageTestServer]:
    with AlphaVantageTestServer() as server:
        yield server
