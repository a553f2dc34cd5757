"""Identity of a pod: labels, annotations, selector, try number and the name (property-tested)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.identity import (
    TaskIdentity,
    identity_annotations,
    identity_labels,
    normalize_pod_name,
    pod_name,
    pod_task_identity,
    pod_try_number,
    safe_label_value,
    task_instance_selector,
)
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.pod.validation import is_dns1123_label, label_value_error

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Airflow ids: dag and task ids are [A-Za-z0-9_.-]; run ids and user names may contain anything.
airflow_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", min_size=1, max_size=250
)
any_text = st.text(min_size=1, max_size=300)
identities = st.builds(
    TaskIdentity,
    dag_id=airflow_ids,
    task_id=airflow_ids,
    run_id=any_text,
    map_index=st.integers(min_value=-1, max_value=100_000),
    try_number=st.integers(min_value=1, max_value=1_000),
)


@settings(max_examples=300, deadline=None)
@given(identities)
def test_generated_name_is_always_a_valid_dns_label(identity: TaskIdentity) -> None:
    name = pod_name(identity.task_id, identity)
    assert len(name) <= 63
    assert DNS1123_LABEL.match(name), name


@settings(max_examples=300, deadline=None)
@given(identities, identities)
def test_distinct_identities_get_distinct_names(a: TaskIdentity, b: TaskIdentity) -> None:
    if a != b:
        assert pod_name(a.task_id, a) != pod_name(b.task_id, b)


@settings(max_examples=100, deadline=None)
@given(identities)
def test_every_try_and_map_index_gets_its_own_name(identity: TaskIdentity) -> None:
    names = {
        pod_name(identity.task_id, identity),
        pod_name(
            identity.task_id, TaskIdentity(**{**identity.__dict__, "try_number": identity.try_number + 1})
        ),
        pod_name(
            identity.task_id, TaskIdentity(**{**identity.__dict__, "map_index": identity.map_index + 1})
        ),
        pod_name(identity.task_id, TaskIdentity(**{**identity.__dict__, "run_id": identity.run_id + "x"})),
        pod_name(identity.task_id, TaskIdentity(**{**identity.__dict__, "dag_id": identity.dag_id + "x"})),
    }
    assert len(names) == 5


@settings(max_examples=200, deadline=None)
@given(identities, st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC_.-0123456789", min_size=1, max_size=300))
def test_a_given_name_with_suffix_is_valid_and_unique_per_try(identity: TaskIdentity, name: str) -> None:
    base = normalize_pod_name(name)
    if not re.match(r"^[a-z0-9]", base):
        return  # a name starting with '-' is the user's error, reported by validation
    generated = pod_name(identity.task_id, identity, base=base)
    assert len(generated) <= 63
    assert DNS1123_LABEL.match(generated), generated
    assert generated.endswith(identity.digest())


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_safe_label_value_is_always_a_valid_label_value(value: str) -> None:
    assert label_value_error(safe_label_value(value)) is None


@settings(max_examples=200, deadline=None)
@given(any_text, any_text)
def test_safe_label_values_of_different_values_differ(a: str, b: str) -> None:
    if a != b:
        assert safe_label_value(a) != safe_label_value(b)


def test_the_name_is_the_same_for_the_same_try() -> None:
    identity = TaskIdentity("dag", "task", "manual__2024", 3, 2)
    assert pod_name("task", identity) == pod_name("task", TaskIdentity("dag", "task", "manual__2024", 3, 2))


def test_name_scheme() -> None:
    identity = TaskIdentity("dag", "My_Task.with.Dots_and_UPPER", "r", -1, 1)
    name = pod_name(identity.task_id, identity)
    assert name == f"my-task-with-dots-and-upper-{identity.digest()}"
    assert len(identity.digest()) == 10
    long_name = pod_name("t" * 100, TaskIdentity("d", "t" * 100, "r"))
    assert len(long_name) == 63


def test_name_without_suffix_is_the_task_id_or_the_given_name() -> None:
    identity = TaskIdentity("dag", "Load_Data", "r")
    assert pod_name("Load_Data", identity, random_suffix=False) == "load-data"
    assert pod_name("Load_Data", identity, base="exact-name", random_suffix=False) == "exact-name"


def test_name_without_identity_is_deterministic_per_dag_and_task() -> None:
    assert pod_name("t", dag_id="a") == pod_name("t", dag_id="a")
    assert pod_name("t", dag_id="a") != pod_name("t", dag_id="b")


def test_normalize_pod_name_like_upstream() -> None:
    assert normalize_pod_name("My_Pod.Name") == "my-pod-name"
    with pytest.raises(PodSpecError, match="contains ' ', '!'"):
        normalize_pod_name("bad name!")
    with pytest.raises(PodSpecError, match="non-empty string"):
        normalize_pod_name("  ")


def test_safe_label_value_matches_upstream() -> None:
    # The example upstream's documentation gives; the same value means the same label on both.
    assert safe_label_value("manual__2024-01-01T00:00:00+00:00") == "manual__2024-01-01T0000000000-701821d7a"
    assert safe_label_value("plain_value-1.0") == "plain_value-1.0"
    assert len(safe_label_value("x" * 100)) == 63
    assert safe_label_value("___") != ""


def test_labels_are_upstreams_and_our_marker_is_an_annotation() -> None:
    # Exactly the labels upstream's operator puts on the pod of the same task instance try; tooling that
    # selects pods by upstream's labels finds ours, and nothing of ours is added to them.
    identity = TaskIdentity("my dag", "t", "scheduled__2024-01-01T00:00:00+00:00", 4, 2)
    assert identity_labels(identity) == {
        "dag_id": safe_label_value("my dag"),
        "task_id": "t",
        "run_id": "scheduled__2024-01-01T0000000000-654f198ec",
        "map_index": "4",
        "try_number": "2",
        "kubernetes_pod_operator": "True",
    }
    assert identity_annotations(identity) == {
        "app.kubernetes.io/managed-by": "airflow-provider-k8spod",
        "airflow-provider-k8spod/dag_id": "my dag",
        "airflow-provider-k8spod/task_id": "t",
        "airflow-provider-k8spod/run_id": "scheduled__2024-01-01T00:00:00+00:00",
        "airflow-provider-k8spod/map_index": "4",
        "airflow-provider-k8spod/try_number": "2",
    }
    assert "map_index" not in identity_labels(TaskIdentity("d", "t", "r", -1, 1))


def test_selector_finds_every_try_but_not_other_map_indexes() -> None:
    mapped = TaskIdentity("etl", "load", "manual__1", 2, 1)
    assert task_instance_selector(mapped) == (
        "dag_id=etl,kubernetes_pod_operator=True,map_index=2,run_id=manual__1,task_id=load"
    )
    assert task_instance_selector(mapped) == task_instance_selector(
        TaskIdentity("etl", "load", "manual__1", 2, 5)
    )
    assert task_instance_selector(TaskIdentity("etl", "load", "manual__1")).endswith(",!map_index")


def _matches(selector: str, labels: dict[str, str]) -> bool:
    """Evaluate an equality-based selector the way the API server does."""
    for term in selector.split(","):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        else:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
    return True


def test_selector_matches_the_pods_built_for_the_task_instance() -> None:
    first = TaskIdentity("etl", "load", "scheduled__2024-01-01T00:00:00+00:00", -1, 1)
    retry = TaskIdentity("etl", "load", "scheduled__2024-01-01T00:00:00+00:00", -1, 2)
    other_run = TaskIdentity("etl", "load", "scheduled__2024-01-02T00:00:00+00:00", -1, 1)
    mapped = TaskIdentity("etl", "load", "scheduled__2024-01-01T00:00:00+00:00", 0, 1)
    pods = {
        i: build_pod({"image": "busybox"}, task_id="load", identity=i)
        for i in (first, retry, other_run, mapped)
    }
    selector = task_instance_selector(first)
    found = [i for i, pod in pods.items() if _matches(selector, pod["metadata"]["labels"])]
    assert found == [first, retry]
    assert {pod_try_number(pods[i]) for i in found} == {1, 2}


def test_reading_the_identity_back_from_a_pod_dict_and_a_model() -> None:
    identity = TaskIdentity("etl", "load", "manual__2024-01-01T00:00:00+00:00", 3, 4)
    pod = build_pod({"image": "busybox"}, task_id="load", identity=identity)
    assert pod_try_number(pod) == 4
    assert pod_task_identity(pod) == identity
    model = k8s.V1Pod(metadata=k8s.V1ObjectMeta(labels={"try_number": "7"}))
    assert pod_try_number(model) == 7
    assert pod_task_identity(model) is None
    assert pod_try_number({"metadata": {}}) is None


def test_identity_from_an_airflow_context() -> None:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=None, try_number=2)
    assert TaskIdentity.from_context({"ti": ti}) == TaskIdentity("d", "t", "r", -1, 2)
    with pytest.raises(PodSpecError, match="no task instance"):
        TaskIdentity.from_context({})


def test_dns_helper() -> None:
    assert is_dns1123_label("a-b1")
    assert not is_dns1123_label("A")
    assert not is_dns1123_label("a" * 64)
