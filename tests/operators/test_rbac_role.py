"""The Role of docs/rbac.md is enough, and each of its rules is needed or optional as the guide says: the
Role is read from the guide, bound to a service account of the local cluster (which enforces RBAC), and the
operator runs as that account through its connection. End to end; assertions on the task state, the task
log, the XCom and the pods left."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.operators.kpo import dag_source

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "rbac.md"
NAMESPACE = "default"
ACCOUNT = "airflow-worker"


def guide_manifests() -> tuple[dict[str, Any], dict[str, Any]]:
    text = GUIDE.read_text()
    block = re.search(r"<!-- rbac-role[^>]*-->\s*```yaml\n(.*?)```", text, re.S)
    assert block is not None, "docs/rbac.md has no marked Role block"
    docs = {d["kind"]: d for d in yaml.safe_load_all(block.group(1))}
    return docs["Role"], docs["RoleBinding"]


ROLE, BINDING = guide_manifests()


# A pod that prints a line, leaves an XCom result and emits events (scheduling, image, container starts).
SOURCE = dag_source(
    "rbac_role",
    """image="busybox:1.36", cmds=["sh", "-c", "echo hello from the pod; mkdir -p /airflow/xcom; """
    """echo '{\\"answer\\": 42}' > /airflow/xcom/return.json"], do_xcom_push=True""",
)


def run_as_role(
    cluster: Any, monkeypatch: pytest.MonkeyPatch, run_dag: Any, role: dict[str, Any], *, source: str = SOURCE
) -> Any:
    """Bind ``role`` (the guide's, in the test namespace) to a service account and run the DAG as it."""
    role, binding = copy.deepcopy(role), copy.deepcopy(BINDING)
    role["metadata"]["namespace"] = binding["metadata"]["namespace"] = NAMESPACE
    for subject in binding["subjects"]:
        subject["namespace"] = NAMESPACE
    assert any(s["name"] == ACCOUNT for s in binding["subjects"])
    api = kubernetes.config.new_client_from_config(cluster.kubeconfig_path)
    try:
        kubernetes.client.CoreV1Api(api).create_namespaced_service_account(
            NAMESPACE, {"metadata": {"name": ACCOUNT}}
        )
        rbac = kubernetes.client.RbacAuthorizationV1Api(api)
        rbac.create_namespaced_role(NAMESPACE, role)
        rbac.create_namespaced_role_binding(NAMESPACE, binding)
    finally:
        api.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT", cluster.airflow_connection(NAMESPACE, service_account=ACCOUNT)
    )
    return run_dag(source)


def test_the_guides_role_runs_a_pod_with_logs_events_and_xcom(local_cluster, monkeypatch, run_dag, mode):
    result = run_as_role(local_cluster, monkeypatch, run_dag, ROLE)
    assert result.task_states == {"task": "success"}, result.log[-3000:]
    assert result.xcom("task") == {"answer": 42}
    assert "[base] hello from the pod" in result.log
    assert "forbidden" not in result.log.lower()
    stats = local_cluster.stats()
    assert stats.get("list events", 0) >= 1  # the pod's events were read, as the service account
    assert local_cluster.pods() == []


def without(resource: str, verb: str) -> dict[str, Any]:
    """The guide's Role without ``verb`` on ``resource`` (without the rule if it was its only verb)."""
    role = copy.deepcopy(ROLE)
    (rule,) = [r for r in role["rules"] if r["resources"] == [resource]]
    rule["verbs"].remove(verb)
    if not rule["verbs"]:
        role["rules"].remove(rule)
    return role


FAILS, FALLS_BACK, UNUSED = "fails", "falls back", "unused"
#: (resource, verb) -> what a task that runs a pod with logs, events and XCom does without it, and the
#: line of its log that says so. Every verb of the guide's Role is listed (checked below).
WITHOUT = {
    ("pods", "create"): (FAILS, 'cannot create resource "pods" in API group "" in the namespace "default"'),
    ("pods", "list"): (FAILS, 'cannot list resource "pods" in API group "" in the namespace "default"'),
    ("pods", "watch"): (FALLS_BACK, "Cannot watch pods (watch pods in namespace"),
    ("pods", "delete"): (
        FAILS,
        "could not be deleted (on_finish_action=delete_pod) and is left in the cluster",
    ),
    # Recovery paths only (polling when watch is refused, adoption): see docs/rbac.md.
    ("pods", "get"): (UNUSED, None),
    # Kept pods only: see the test below.
    ("pods", "patch"): (UNUSED, None),
    ("pods/log", "get"): (FALLS_BACK, "needs RBAC verb 'get' on 'pods/log'"),
    ("pods/exec", "create"): (FAILS, "needs RBAC verbs 'create' and 'get' on 'pods/exec'"),
    ("pods/exec", "get"): (FAILS, "needs RBAC verbs 'create' and 'get' on 'pods/exec'"),
    ("events", "list"): (FALLS_BACK, "needs RBAC verb 'list' on 'events'"),
    ("events", "watch"): (FALLS_BACK, "needs RBAC verb 'watch' on 'events'"),
}


def test_every_verb_of_the_guides_role_is_covered():
    verbs = {(rule["resources"][0], verb) for rule in ROLE["rules"] for verb in rule["verbs"]}
    assert all(len(rule["resources"]) == 1 for rule in ROLE["rules"])
    assert verbs == set(WITHOUT)


# One mode only: both modes use the same requests with the same connection (the trigger runs in-line).
@pytest.mark.parametrize(("resource", "verb"), list(WITHOUT), ids=[f"{r}-{v}" for r, v in WITHOUT])
def test_without_one_verb_the_task_fails_naming_it_or_says_what_it_did_instead(
    local_cluster, monkeypatch, run_dag, resource, verb
):
    outcome, expected = WITHOUT[(resource, verb)]
    result = run_as_role(local_cluster, monkeypatch, run_dag, without(resource, verb))
    if outcome == FAILS:
        assert result.task_states == {"task": "failed"}, result.log[-3000:]
        assert expected in result.log
        assert "403 Forbidden" in result.log
    else:
        assert result.task_states == {"task": "success"}, result.log[-3000:]
        assert result.xcom("task") == {"answer": 42}
        assert "[base] hello from the pod" in result.log or resource == "pods/log"
        warnings = [line for line in result.log.splitlines() if "403 Forbidden" in line]
        if outcome == FALLS_BACK:
            assert len(warnings) == 1, warnings  # said once, never retried
            assert expected in warnings[0]
        else:
            assert warnings == []
    left = local_cluster.pods()
    if (resource, verb) == ("pods", "delete"):
        assert len(left) == 1  # and the log said so (above)
        assert "deletionTimestamp" not in left[0]["metadata"]
    else:
        # Deleted: gone, or (a pod stopped while it ran) terminating within its grace period.
        for pod in left:
            assert pod["metadata"].get("deletionTimestamp"), pod["metadata"]["name"]
            local_cluster.wait_for_pod(NAMESPACE, pod["metadata"]["name"], gone=True, timeout=30)


def test_without_patch_a_kept_pod_is_not_labelled_and_the_log_says_so(local_cluster, monkeypatch, run_dag):
    source = SOURCE.replace("do_xcom_push=True", 'do_xcom_push=True, on_finish_action="keep_pod"')
    result = run_as_role(local_cluster, monkeypatch, run_dag, without("pods", "patch"), source=source)
    assert result.task_states == {"task": "success"}, result.log[-3000:]
    assert result.xcom("task") == {"answer": 42}
    warnings = [line for line in result.log.splitlines() if "403 Forbidden" in line]
    assert len(warnings) == 1, warnings
    assert "Could not label kept pod" in warnings[0]
    assert "needs RBAC verb 'patch' on 'pods'" in warnings[0]
    (kept,) = local_cluster.pods()
    assert "already_checked" not in (kept["metadata"].get("labels") or {})
