from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_k8spod.testing import Node, Taint
from airflow_provider_k8spod.testing.apiserver.objects import node_object
from airflow_provider_k8spod.testing.controllers.scheduler import (
    choose_node,
    failure_message,
    prefilter_failure_message,
    tolerates,
    unfit_reason,
    volume_claims_prefilter,
)

GPU = node_object(Node("gpu-1", labels={"accelerator": "gpu"}, taints=[Taint("dedicated", "gpu")]))
PLAIN = node_object(Node("cpu-1", labels={"disk": "ssd"}))
CORDONED = node_object(Node("old-1", unschedulable=True))


@pytest.mark.parametrize(
    ("toleration", "taint", "ok"),
    [
        (
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            True,
        ),
        (
            {"key": "dedicated", "operator": "Exists"},
            {"key": "dedicated", "value": "x", "effect": "NoSchedule"},
            True,
        ),
        ({"operator": "Exists"}, {"key": "anything", "effect": "NoExecute"}, True),
        (
            {"key": "dedicated", "value": "cpu"},
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            False,
        ),
        (
            {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
            {"key": "dedicated", "effect": "NoSchedule"},
            False,
        ),
    ],
)
def test_tolerations(toleration: dict[str, Any], taint: dict[str, Any], ok: bool) -> None:
    assert tolerates(toleration, taint) is ok


def test_unfit_reasons() -> None:
    assert unfit_reason({}, GPU) == "node(s) had untolerated taint {dedicated: gpu}"
    assert (
        unfit_reason({"nodeSelector": {"disk": "hdd"}}, PLAIN)
        == "node(s) didn't match Pod's node affinity/selector"
    )
    assert unfit_reason({}, CORDONED) == "node(s) were unschedulable"
    assert unfit_reason({"nodeSelector": {"disk": "ssd"}}, PLAIN) is None
    tolerant = {
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    }
    assert unfit_reason({**tolerant, "nodeSelector": {"accelerator": "gpu"}}, GPU) is None


def test_node_affinity_terms() -> None:
    affinity = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["cpu-1"]}]},
                    ]
                }
            }
        }
    }
    assert unfit_reason(affinity, PLAIN) is None
    assert unfit_reason(affinity, CORDONED) == "node(s) were unschedulable"


def test_failure_message_format() -> None:
    message = failure_message(
        3,
        [
            "node(s) had untolerated taint {dedicated: gpu}",
            "node(s) were unschedulable",
            "node(s) were unschedulable",
        ],
    )
    assert message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) were unschedulable. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_choose_least_loaded() -> None:
    other = node_object(Node("cpu-2", labels={"disk": "ssd"}))
    pod = {"spec": {"nodeSelector": {"disk": "ssd"}}}
    assert choose_node(pod, [PLAIN, other], {"cpu-1": 3, "cpu-2": 1}) == ("cpu-2", "")
    node, message = choose_node({"spec": {}}, [GPU, CORDONED], {})
    assert node is None
    assert message.startswith("0/2 nodes are available: ")


def _claim(name: str, phase: str = "Pending", cls: str = "standard", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **meta}, "spec": {"storageClassName": cls}, "status": {"phase": phase}}


CLAIMS = {
    "bound": _claim("bound", "Bound"),
    "wait": _claim("wait"),
    "now": _claim("now", cls="fast"),
    "none": _claim("none", cls=""),
    "lost": {**_claim("lost", "Lost"), "spec": {"volumeName": "pv-1"}},
    "going": _claim("going", "Bound", deletionTimestamp="2026-01-01T00:00:00Z"),
}


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ([], (None, [])),
        (["bound"], (None, [])),
        (["bound", "wait"], (None, ["wait"])),
        (["missing", "wait"], ('persistentvolumeclaim "missing" not found', [])),
        (["wait", "now"], ("pod has unbound immediate PersistentVolumeClaims", [])),
        (["none"], ("pod has unbound immediate PersistentVolumeClaims", [])),
        (["lost"], ('persistentvolumeclaim "lost" bound to non-existent persistentvolume "pv-1"', [])),
        (["going"], ('persistentvolumeclaim "going" is being deleted', [])),
        # Existence is checked for every claim before binding modes are looked at.
        (["now", "missing"], ('persistentvolumeclaim "missing" not found', [])),
    ],
)
def test_volume_claims_prefilter(claims: list[str], expected: tuple[str | None, list[str]]) -> None:
    pod = {"spec": {"volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]}}
    result = volume_claims_prefilter(pod, CLAIMS.get, lambda cls: cls == "standard")
    assert result == expected


def test_prefilter_message_and_volume_node_affinity() -> None:
    assert prefilter_failure_message(2, 'persistentvolumeclaim "x" not found') == (
        '0/2 nodes are available: persistentvolumeclaim "x" not found. preemption: 0/2 nodes are available: '
        "2 Preemption is not helpful for scheduling."
    )
    pinned = {
        "spec": {
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["cpu-1"]}
                            ]
                        }
                    ]
                }
            }
        }
    }
    other = node_object(Node("cpu-2"))
    assert choose_node({"spec": {}}, [PLAIN, other], {"cpu-1": 5}, [pinned]) == ("cpu-1", "")
    node, message = choose_node({"spec": {}}, [other], {}, [pinned])
    assert node is None
    assert message.startswith("0/1 nodes are available: 1 node(s) had volume node affinity conflict. ")


def test_ephemeral_volume_claims_prefilter() -> None:
    pod = {
        "metadata": {"name": "job", "namespace": "ns", "uid": "u-1"},
        "spec": {"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]},
    }
    assert volume_claims_prefilter(pod, lambda name: None, lambda cls: True) == (
        'waiting for ephemeral volume controller to create the persistentvolumeclaim "job-scratch"',
        [],
    )
    owned = _claim("job-scratch", ownerReferences=[{"uid": "u-1", "controller": True}])
    assert volume_claims_prefilter(pod, {"job-scratch": owned}.get, lambda cls: True) == (
        None,
        ["job-scratch"],
    )
    stranger = _claim("job-scratch")
    assert volume_claims_prefilter(pod, {"job-scratch": stranger}.get, lambda cls: True) == (
        "PVC ns/job-scratch was not created for pod ns/job (pod is not owner)",
        [],
    )
