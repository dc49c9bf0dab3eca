"""The local Polygon server, started per test (fresh request log and faults)."""

from collections.abc import Iterator

import pytest

from options_pipeline_tests.polygon_server import PolygonTestServer


@pytest.fixture
def srv() -> Iterator[PolygonTestServer]:
    with PolygonTestServer() as server:
        yield server
