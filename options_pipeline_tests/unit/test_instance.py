"""The Dagster instance file: written once, never overwritten, no secret, run monitoring on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from options_pipeline.instance import (
    DAGSTER_PG_URL_ENV,
    TEMPLATE,
    dagster_storage_url,
    write_instance_config,
)


def test_the_file_is_written_once_and_an_operators_edit_survives(tmp_path: Path) -> None:
    path = write_instance_config(tmp_path / "home")
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(TEMPLATE)
    edited = path.read_text() + "run_queue:\n  max_concurrent_runs: 3\n"
    path.write_text(edited)
    assert write_instance_config(tmp_path / "home") == path
    assert path.read_text() == edited
    assert [p.name for p in path.parent.iterdir()] == ["dagster.yaml"]  # no partial file left


def test_the_storage_is_an_environment_reference_and_the_config_is_valid() -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    config = yaml.safe_load(TEMPLATE)
    assert config["storage"]["postgres"] == {"postgres_url": {"env": DAGSTER_PG_URL_ENV}}
    assert validate_config(dagster_instance_config_schema(), config).success
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["free_slots_after_run_end_seconds"] > 0
    assert monitoring["max_runtime_seconds"] > 0


@pytest.mark.parametrize("password", ["p@ss/w:rd#?%", "plain", "ünïcode&=+"])
def test_any_password_survives_the_storage_url(password: str) -> None:
    from psycopg.conninfo import make_conninfo

    dsn = make_conninfo(
        host="db.example", port=6543, user="ops@corp", password=password, dbname="options"
    )
    url = make_url(dagster_storage_url(dsn))
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "db.example",
        6543,
        "dagster",
    )
    assert (url.username, url.password) == ("ops@corp", password)


def test_a_unix_socket_server_keeps_its_socket_directory() -> None:
    url = make_url(
        dagster_storage_url("host=/tmp/state/pgdata port=5432 user=postgres dbname=postgres")
    )
    assert url.host is None and url.database == "dagster"
    assert url.query == {"host": "/tmp/state/pgdata", "port": "5432"}
