"""An unexpected run failure is shown as its root cause's one line, not Dagster's wrapper."""

import sys

from dagster._core.errors import DagsterExecutionStepExecutionError
from dagster._utils.error import serializable_error_info_from_exc_info

from options_pipeline.cli_runner import _root_cause


def test_the_innermost_cause_is_shown_not_the_wrapper():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as exc:
            raise DagsterExecutionStepExecutionError(
                'Error occurred while executing op "options_chains":',
                user_exception=exc,
                original_exc_info=sys.exc_info(),
                step_key="options_chains",
                op_name="options_chains",
                op_def_name="options_chains",
            ) from exc
    except DagsterExecutionStepExecutionError:
        info = serializable_error_info_from_exc_info(sys.exc_info())
    line = _root_cause(info)
    assert line == "OSError: [Errno 28] No space left on device"
    assert "Error occurred while executing" not in line
