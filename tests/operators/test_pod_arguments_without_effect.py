"""No argument is accepted and silently ignored: upstream arguments that mean nothing here are warned about
when the DAG is parsed, and the ones that do mean something reach the lifecycle in both modes."""

from __future__ import annotations

import warnings

import pytest

from airflow_provider_k8spod.operators.pod import KubernetesPodOperator


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("logging_interval", 30),
        ("trigger_kwargs", {"a": 1}),
        ("base_container_status_polling_interval", 5),
        ("progress_callback", print),
    ],
)
def test_arguments_without_effect_are_warned_about(argument, value):
    with pytest.warns(UserWarning, match=f"{argument} has no effect with airflow-provider-k8spod"):
        KubernetesPodOperator(task_id="t", image="busybox", **{argument: value})


def test_defaults_are_not_warned_about():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KubernetesPodOperator(task_id="t", image="busybox")


def test_intervals_reach_the_lifecycle_settings():
    operator = KubernetesPodOperator(
        task_id="t", image="busybox", poll_interval=7, startup_check_interval_seconds=3
    )
    settings = operator.lifecycle_settings()
    assert settings.poll_interval == 7.0
    assert settings.startup_check_interval == 3.0
