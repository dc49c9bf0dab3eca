"""Dagster's storage through the instance file: secrets stay in the environment, and a run whose
process died gives its pool slot back through run monitoring alone."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from options_pipeline.assets.options_chains import POOL
from options_pipeline_tests.cli_helpers import ingest_options, options_pipeline

PASSWORD = "p@ss/w:rd#SECRET-on-disk?"


def test_a_password_with_url_characters_works_and_never_reaches_a_file(
    pipeline_env: Path, database_url: str, monkeypatch, capsys
) -> None:
    role = f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)
            )
        )
    params = conninfo_to_dict(database_url) | {"user": role, "password": PASSWORD}
    monkeypatch.setenv("DATABASE_URL", make_conninfo(**params))
    monkeypatch.setenv("DAGSTER_PG_URL", "")  # derived from DATABASE_URL by the commands
    assert options_pipeline(capsys, "watchlist", "add", "core", "SPY").code == 0
    result = ingest_options(capsys, "--as-of", "2025-12-15")
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    files = [p for p in pipeline_env.rglob("*") if p.is_file()]
    assert any(p.name == "dagster.yaml" for p in files)
    for path in files:
        assert b"SECRET-on-disk" not in path.read_bytes(), path
    # the run was recorded in the Dagster storage reached with that password
    shown = options_pipeline(capsys, "db", "dagster-url").out
    assert f"{role}:***@" in shown and PASSWORD not in shown
    instance = DagsterInstance.get()
    try:
        assert [r.status for r in instance.get_runs()] == [DagsterRunStatus.SUCCESS]
    finally:
        instance.dispose()


def test_a_dead_runs_pool_slot_is_freed_by_run_monitoring_alone(pipeline_env: Path, capsys):
    from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
    from dagster._daemon.monitoring.run_monitoring import check_run_timeout

    assert options_pipeline(capsys, "db", "init").code == 0
    instance_file = pipeline_env / "dagster_home" / "dagster.yaml"
    # an operator shortens the wait; the commands never overwrite the file
    instance_file.write_text(
        instance_file.read_text().replace(
            "free_slots_after_run_end_seconds: 60", "free_slots_after_run_end_seconds: 1"
        )
    )
    assert options_pipeline(capsys, "db", "init").code == 0
    assert "free_slots_after_run_end_seconds: 1" in instance_file.read_text()

    instance = DagsterInstance.get()
    try:
        from options_pipeline.cli_runner import options_chains_job_def

        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        # a daemon-launched run whose worker was killed: STARTED, holding the pool's only slot
        run = instance.create_run_for_job(
            job_def=options_chains_job_def(), tags={"dagster/max_runtime": "1"}
        )
        instance.handle_run_event(
            run.run_id,
            DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name),
        )
        assert storage.claim_concurrency_slot(POOL, run.run_id, "options_chains").is_claimed
        assert storage.get_concurrency_info(POOL).claimed_slots
        time.sleep(1.2)

        log = logging.getLogger("test.run_monitoring")
        check_run_timeout(
            instance,
            instance.get_run_record_by_id(run.run_id),
            log,
            float(instance.run_monitoring_max_runtime_seconds),
        )
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        time.sleep(1.2)
        list(execute_concurrency_slots_iteration(SimpleNamespace(instance=instance), log))
        assert not storage.get_concurrency_info(POOL).claimed_slots
    finally:
        instance.dispose()
