"""Operator arguments checked and normalised when the operator is created
(airflow_provider_k8spod.pod.arguments): a wrong value is an error naming the argument at DAG parse time."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.arguments import (
    ACTIVE_DEADLINE_MARGIN_SECONDS,
    check_startup_timeouts,
    derived_active_deadline,
    skip_exit_codes,
)
from airflow_provider_k8spod.pod.spec import build_pod


@pytest.mark.parametrize(
    ("startup", "schedule"),
    [
        (120, None),  # the defaults: schedule_timeout_seconds follows startup_timeout_seconds
        (30, 600),
        (0, None),  # 0: no limit
        (120, 0),
        (0.5, 2.5),
        (float("inf"), None),
    ],
)
def test_valid_timeouts(startup: Any, schedule: Any) -> None:
    check_startup_timeouts(startup, schedule)


@pytest.mark.parametrize(
    ("startup", "schedule", "message"),
    [
        (-5, None, "startup_timeout_seconds: expected 0 (no limit) or a positive number of seconds, got -5"),
        (120, -5, "schedule_timeout_seconds: expected 0 (no limit) or a positive number of seconds, got -5"),
        (
            -0.1,
            10,
            "startup_timeout_seconds: expected 0 (no limit) or a positive number of seconds, got -0.1",
        ),
        (
            float("nan"),
            None,
            "startup_timeout_seconds: expected 0 (no limit) or a positive number of seconds",
        ),
        ("60", None, "startup_timeout_seconds: expected a number of seconds, got '60' (str)"),
        (None, None, "startup_timeout_seconds: expected a number of seconds, got None (NoneType)"),
        (True, None, "startup_timeout_seconds: expected a number of seconds, got True (bool)"),
        (120, [5], "schedule_timeout_seconds: expected a number of seconds, got [5] (list)"),
    ],
)
def test_invalid_timeouts_name_the_argument(startup: Any, schedule: Any, message: str) -> None:
    with pytest.raises(PodSpecError) as caught:
        check_startup_timeouts(startup, schedule)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        (None, []),
        (100, [100]),
        (0, [0]),
        ("3", [3]),
        (" 3 ", [3]),
        ([100, 101], [100, 101]),
        ((100,), [100]),
        ({100}, [100]),
        (["3", 4], [3, 4]),
        (range(100, 103), [100, 101, 102]),
        ([], []),
    ],
)
def test_skip_on_exit_code_becomes_a_list_of_ints(value: Any, codes: list[int]) -> None:
    assert skip_exit_codes(value) == codes


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("three", "skip_on_exit_code: 'three' is not an exit code; give ints such as 100 or [100, 101]"),
        ("", "skip_on_exit_code: '' is not an exit code"),
        ("3,4", "skip_on_exit_code: '3,4' is not an exit code"),
        ("٣", "skip_on_exit_code: '٣' is not an exit code"),  # a non-ASCII digit
        (3.0, "skip_on_exit_code: expected an exit code or a list of exit codes, got 3.0 (float)"),
        (True, "skip_on_exit_code: expected an exit code or a list of exit codes, got True (bool)"),
        ({3: "x"}, "skip_on_exit_code: expected an exit code or a list of exit codes, got {3: 'x'} (dict)"),
        (b"3", "skip_on_exit_code: expected an exit code or a list of exit codes, got b'3' (bytes)"),
        ([100, "x"], "skip_on_exit_code: 'x' in [100, 'x'] is not an exit code"),
        ([100, 1.5], "skip_on_exit_code: 1.5 in [100, 1.5] is not an exit code"),
        ([False], "skip_on_exit_code: False in [False] is not an exit code"),
    ],
)
def test_skip_on_exit_code_that_could_never_match_is_an_error(value: Any, message: str) -> None:
    with pytest.raises(PodSpecError) as caught:
        skip_exit_codes(value)
    assert str(caught.value).startswith(message)


# -- activeDeadlineSeconds derived from execution_timeout ------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "margin", "expected"),
    [
        (None, 300, None),  # no execution_timeout: no deadline
        (datetime.timedelta(hours=1), 300, 3900),
        (datetime.timedelta(seconds=2.2), 300, 303),  # rounded up: never before Airflow's timeout
        (datetime.timedelta(seconds=10), 0, 10),
        (datetime.timedelta(0), 300, None),  # Airflow fails such a task before it starts
        (datetime.timedelta(seconds=-5), 300, None),
        (datetime.timedelta(days=100_000), 300, 2**31 - 1),  # Kubernetes' largest value
    ],
)
def test_derived_active_deadline(timeout: Any, margin: float, expected: int | None) -> None:
    assert derived_active_deadline(timeout, margin) == expected


def test_derived_active_deadline_default_margin_is_five_minutes() -> None:
    assert ACTIVE_DEADLINE_MARGIN_SECONDS == 300
    assert derived_active_deadline(datetime.timedelta(minutes=10)) == 900


def test_derived_active_deadline_refuses_a_number() -> None:
    with pytest.raises(PodSpecError, match=r"execution_timeout: expected a datetime\.timedelta, got 60"):
        derived_active_deadline(60)  # type: ignore[arg-type]


SOURCE = "airflow-provider-k8spod/active-deadline-source"


@pytest.mark.parametrize(
    ("arguments", "expected", "annotated"),
    [
        ({"image": "busybox"}, 3900, True),  # derived
        ({"image": "busybox", "active_deadline_seconds": 60}, 60, False),  # the argument wins
        (
            {
                "pod_template_dict": {
                    "spec": {"activeDeadlineSeconds": 120, "containers": [{"name": "base", "image": "x"}]}
                }
            },
            120,
            False,
        ),  # the manifest wins
        (
            {
                "full_pod_spec": {
                    "spec": {"activeDeadlineSeconds": 90, "containers": [{"name": "base", "image": "x"}]}
                }
            },
            90,
            False,
        ),
        (
            {
                "pod_template_dict": {
                    "spec": {"activeDeadlineSeconds": 120, "containers": [{"name": "base", "image": "x"}]}
                },
                "active_deadline_seconds": 30,
            },
            30,
            False,
        ),
    ],
)
def test_derived_deadline_precedence(arguments: dict[str, Any], expected: int, annotated: bool) -> None:
    pod = build_pod(arguments, task_id="t", derived_active_deadline_seconds=3900)
    assert pod["spec"]["activeDeadlineSeconds"] == expected
    assert (SOURCE in pod["metadata"]["annotations"]) is annotated


def test_no_derived_deadline_no_field() -> None:
    pod = build_pod({"image": "busybox"}, task_id="t")
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert SOURCE not in pod["metadata"]["annotations"]
