"""The pod snapshots captured from the local cluster against real clusters in the same situations.

Every capture in tests/pod/pods/ has a real counterpart in tests/pod/pods/real/ (a published
``kubectl get pod -o yaml`` of a real cluster, with its source). Their status shapes (tests/pod/shapes.py:
fields present, phase, reasons, messages up to names, times and ids) must match, and our status module must
read both the same way. A pair marked GAPS differs for a reason owned elsewhere; it is an expected failure
until that gap is closed (strict: it fails the run once the shapes match).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_k8spod.pod.status import (
    StartupTracker,
    decide,
    main_container_done,
    main_container_started,
)
from tests.pod import shapes
from tests.pod.pods import names as snapshot_names
from tests.pod.pods import snapshot
from tests.pod.pods.real import counterpart
from tests.pod.pods.real import names as real_names

MAIN = "base"

# Captures the local cluster still gets wrong for a reason another piece of work owns.
GAPS: dict[str, str] = {}


def _own_names(pod: dict[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    found = {
        str(meta.get("name") or ""): "<pod>",
        str(meta.get("namespace") or ""): "<ns>",
        str(meta.get("uid") or ""): "<uid>",
        str((pod.get("spec") or {}).get("nodeName") or ""): "<node>",
    }
    return {k: v for k, v in found.items() if k}


def _pair(name: str) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...], bool]:
    ours_pod = snapshot(name).pod
    real = counterpart(name)
    ours_containers = {c: c for c in real.containers.values()}
    state_only = {real.containers[c] for c in real.last_as_state}
    own_messages = {real.containers[c] for c in real.own_messages}
    ours = shapes.shape(
        ours_pod,
        containers=ours_containers,
        names=_own_names(ours_pod),
        real_version=real.kubernetes,
        state_only=state_only,
        own_messages=own_messages,
    )
    theirs = shapes.shape(
        real.pod,
        containers=real.containers,
        names={**_own_names(real.pod), **real.substitutions},
        real_version=real.kubernetes,
        keys=real.form != "excerpt",
        state_only=state_only,
        from_last=True,
        own_messages=own_messages,
    )
    aspects = real.compare or shapes.ASPECTS
    if real.form == "excerpt":
        aspects = tuple(a for a in aspects if a not in ("status_keys", "container_keys"))
    return ours, theirs, aspects, real.form == "excerpt"


# Captures without a real counterpart yet, with what the search found (see README.md there).
NOT_FOUND = "no public dump of a real pod in this situation found yet"
DESCRIBE_ONLY = (
    "issue threads describe it but paste `kubectl describe` text or cut the dump before the main container"
)
DELETED = (
    "needs the object of a watch's DELETED event; published dumps show pods mid-termination, still running"
)
MISSING: dict[str, str] = {
    "deadline_exceeded_graceful_exit": "the DeadlineExceeded dumps found show a killed container, not one exiting 0",
    "deleted_force": DELETED,
    "deleted_graceful_exit": DELETED,
    "deleted_while_running": DELETED,
    "err_image_pull": "dumps found carry the Docker daemon's pull error, or containerd's answer from Docker Hub "
    "for a missing repository (pull access denied), not a registry's 404; the kind capture paired with "
    "image_pull_backoff shows the 404 form only inside the back-off message and in events",
    "init_failed": "found only a redacted excerpt (tektoncd/pipeline#5645), a dump of a since-fixed bug "
    "(kubernetes/kubernetes#108733), a 2018 dump whose Ready condition predates reason PodFailed "
    "(openshift/console#107) and a v1.32 `kubectl get pod` line (kubernetes/website#49519)",
    "invalid_image_name": "found only events and `kubectl describe` text",
    "main_done_user_sidecar_running": DESCRIBE_ONLY,
    "main_failed_user_sidecar_running": DESCRIBE_ONLY,
    "native_sidecar_succeeded": NOT_FOUND,
    "on_failure_restarted_succeeded": NOT_FOUND,
    "termination_message": "the only dump of a message read from the file is an init container's "
    "(openshift/insights-operator sample archive)",
    "xcom_main_done_sidecar_running": DESCRIBE_ONLY,
}


def test_every_capture_has_a_real_counterpart_or_is_listed_as_missing() -> None:
    captures = {n for n in snapshot_names() if snapshot(n).source == "local-cluster"}
    assert captures - set(real_names()) == set(MISSING)
    assert not set(MISSING) & set(real_names())


def test_every_counterpart_belongs_to_a_capture_and_says_where_it_comes_from() -> None:
    for name in real_names():
        assert snapshot(name).source == "local-cluster", name
        real = counterpart(name)
        assert real.notes, f"{name}: say what the source shows and how it was taken"
        assert set(real.compare) <= set(shapes.ASPECTS), name
        spec_names = {
            c["name"] for key in ("initContainers", "containers") for c in real.pod["spec"].get(key) or []
        }
        assert set(real.containers) <= spec_names, f"{name}: containers must name containers of the real pod"
        assert set(real.last_as_state) | set(real.own_messages) <= set(real.containers), name


def _params() -> list[Any]:
    out = []
    for name in real_names():
        marks = [pytest.mark.xfail(reason=GAPS[name], strict=True)] if name in GAPS else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _params())
def test_the_status_shape_matches_the_real_cluster(name: str) -> None:
    ours, theirs, aspects, partial = _pair(name)
    found = shapes.differences(ours, theirs, aspects, partial=partial)
    assert not found, "\n".join(["the capture differs from the real cluster:", *found])


def _reading(pod: dict[str, Any], main: str, deleted: bool) -> tuple[Any, ...]:
    decision = StartupTracker(main).observe(pod, 0.0)
    done = main_container_done(pod, main)
    outcome = decide(pod, main=main, deleted=deleted).outcome if done or deleted else None
    return decision.kind, decision.reason, main_container_started(pod, main), done, outcome


def _not_restarted(pod: dict[str, Any], containers: tuple[str, ...], restart_policy: str) -> dict[str, Any]:
    """The real pod as its kubelet would have reported it under our capture's restart policy: the termination
    of each of ``containers`` (restarted there) is its final state."""
    pod["spec"]["restartPolicy"] = restart_policy
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in pod["status"].get(key) or []:
            if item["name"] in containers:
                item["state"], item["lastState"], item["restartCount"] = item["lastState"], {}, 0
    return pod


def _grafted(ours: dict[str, Any], real: dict[str, Any]) -> dict[str, Any]:
    """Our capture with the status fields a real excerpt shows put in place of its own: an excerpt without
    container statuses (only conditions, say) is read in the context of our pod."""
    pod = copy.deepcopy(ours)
    pod["status"].update(real["status"])
    return pod


@pytest.mark.parametrize("name", real_names())
def test_the_status_module_reads_the_real_pod_as_ours(name: str) -> None:
    real = counterpart(name)
    ours = snapshot(name).pod
    pod, main = real.pod, real.main
    if real.last_as_state:
        pod = _not_restarted(pod, real.last_as_state, ours["spec"]["restartPolicy"])
    if not any(pod["status"].get(key) for key in ("initContainerStatuses", "containerStatuses")):
        pod, main = _grafted(ours, pod), MAIN
    deleted = name.startswith("deleted_")
    assert _reading(pod, main, deleted) == _reading(ours, MAIN, deleted)


# -- the comparison itself ---------------------------------------------------------------------------------


def test_normalize_keeps_the_wording_and_drops_names_times_and_ids() -> None:
    message = "back-off 40s restarting failed container=init-myservice pod=orange_default(6fef656e-cf16-479a-a809-740c02376fcb)"
    names = {"init-myservice": "setup", "orange": "<pod>", "default": "<ns>"}
    assert shapes.normalize(message, names) == (
        "back-off <t> restarting failed container=setup pod=<pod>_<ns>(<uid>)"
    )
    assert shapes.normalize('configmap "task-settings" not found', {}) == 'configmap "<q>" not found'
    assert shapes.normalize(
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes "
        "are available: 3 Preemption is not helpful for scheduling.",
        {},
    ) == ("<n>/<n> nodes are available: <reasons>. preemption: <n>/<n> nodes are available: <reasons>.")


def test_a_difference_in_a_reason_is_reported() -> None:
    pod = snapshot("oom_killed").pod
    changed = snapshot("oom_killed").pod
    changed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "Error"
    args: dict[str, Any] = {"containers": {MAIN: MAIN}, "names": {}, "real_version": (1, 32)}
    found = shapes.differences(shapes.shape(pod, **args), shapes.shape(changed, **args), shapes.ASPECTS)
    assert len(found) == 1
    assert "'OOMKilled'" in found[0]
    assert "'Error'" in found[0]


def test_fields_newer_than_the_real_cluster_are_not_compared() -> None:
    assert shapes.comparable("volumeMounts", (1, 31))
    assert not shapes.comparable("volumeMounts", (1, 30))
    assert not shapes.comparable("volumeMounts", None)
    assert not shapes.comparable("stopSignal", (1, 34))  # newer than what the local cluster claims
    assert shapes.comparable("reason", None)


def test_a_programs_own_termination_message_counts_by_presence_only() -> None:
    pod = snapshot("termination_message").pod
    other = snapshot("termination_message").pod
    other["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = "disk full\n"
    silent = snapshot("termination_message").pod
    del silent["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    args: dict[str, Any] = {"containers": {MAIN: MAIN}, "names": {}, "real_version": (1, 32)}

    def own(p: dict[str, Any]) -> dict[str, Any]:
        return shapes.shape(p, own_messages={MAIN}, **args)

    assert not shapes.differences(own(pod), own(other), shapes.ASPECTS)
    assert shapes.differences(own(pod), own(silent), shapes.ASPECTS)
    assert shapes.differences(shapes.shape(pod, **args), shapes.shape(other, **args), shapes.ASPECTS)
