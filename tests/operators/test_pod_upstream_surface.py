"""What code written for upstream's operator touches besides arguments: its attributes and methods
(``pod``, ``pod_request_obj``, ``remote_pod``, ``hook``, ``client``, ``find_pod``, ``get_or_create_pod``,
``cleanup``, ...), callbacks, a ``pod_mutation_hook`` cluster policy, ``except ApiException``, upstream's
exception classes, and the ``already_checked`` label on kept pods. End to end against the local cluster, in
both modes; assertions on the task state, the task log, XComs and the pods left."""

from __future__ import annotations

import re

import pytest

from tests.operators.kpo import dag_source, task_pods

UPSTREAM_STYLE = """
import inspect
from kubernetes.client import models as k8s
from airflow_provider_k8spod.callbacks import KubernetesPodOperatorCallback


class Seen(KubernetesPodOperatorCallback):
    # Worker-side call points read the pod back through the client they are given.
    @staticmethod
    def on_pod_creation(*, pod, client, mode, operator, context, **kwargs):
        read = client.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        operator.log.info("cb creation %s %s same-uid=%s", mode, pod.metadata.name, read.metadata.uid == pod.metadata.uid)

    @staticmethod
    def on_pod_starting(*, pod, mode, operator, **kwargs):
        operator.log.info("cb starting %s", pod.metadata.name)

    @staticmethod
    def on_pod_completion(*, pod, mode, operator, **kwargs):
        operator.log.info("cb completion %s", pod.metadata.name)

    @staticmethod
    def on_pod_teardown(*, pod, mode, operator, **kwargs):
        operator.log.info("cb teardown %s", pod.metadata.name)

    @staticmethod
    def on_operator_resuming(*, pod, event, client, mode, operator, context, **kwargs):
        operator.log.info("cb resuming %s", pod.metadata.name)

    @staticmethod
    def on_pod_cleanup(*, pod, client, mode, operator, context, **kwargs):
        read = client.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        operator.log.info("cb cleanup %s checked=%s", mode, read.metadata.labels.get("already_checked"))


class Custom(KubernetesPodOperator):
    def build_pod_request_obj(self, context=None):
        pod = super().build_pod_request_obj(context)
        pod.metadata.labels["built-by"] = "subclass"
        return pod

    def find_pod(self, namespace, context, *, exclude_checked=True):
        pod = super().find_pod(namespace, context, exclude_checked=exclude_checked)
        self.log.info("sub find_pod -> %s", pod.metadata.name if pod else None)
        return pod

    def get_or_create_pod(self, pod_request_obj, context):
        self.log.info("sub get_or_create_pod request=%s", pod_request_obj.metadata.labels["built-by"])
        pod = super().get_or_create_pod(pod_request_obj, context)
        self.log.info("sub created %s has-uid=%s", pod.metadata.name, bool(pod.metadata.uid))
        return pod

    def cleanup(self, pod, remote_pod, xcom_result=None, context=None):
        phase = self.pod_manager.read_pod(remote_pod).status.phase
        self.log.info("sub cleanup %s remote=%s read=%s xcom=%s", pod.metadata.name, remote_pod.status.phase, phase, xcom_result)
        super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)

    def _report(self):
        self.log.info(
            "sub after pod=%s request=%s remote=%s hook=%s client=%s",
            self.pod.metadata.name,
            self.pod_request_obj.metadata.labels["built-by"],
            self.remote_pod.status.phase,
            type(self.hook).__name__,
            type(self.client).__name__,
        )

    def execute(self, context):
        result = super().execute(context)
        self._report()
        return result

    def trigger_reentry(self, context, event):
        result = super().trigger_reentry(context, event)
        self._report()
        return result
"""


@pytest.fixture
def policy():
    """A ``pod_mutation_hook`` cluster policy (as in ``airflow_local_settings``) written for upstream."""
    from airflow.policies import hookimpl
    from airflow.settings import get_policy_plugin_manager
    from kubernetes.client import models as k8s

    class Policy:
        @hookimpl
        def pod_mutation_hook(self, pod: k8s.V1Pod) -> None:
            pod.metadata.labels["policy"] = "applied"
            container = pod.spec.containers[0]
            container.env = [*(container.env or []), k8s.V1EnvVar(name="FROM_POLICY", value="yes")]

    manager = get_policy_plugin_manager()
    registered = Policy()
    manager.register(registered, name="k8spod-test-upstream-policy")
    yield
    manager.unregister(registered)


def lines(log: str, prefix: str) -> list[str]:
    """What was logged after ``prefix``, without the logger's ``[name] loc=...`` suffix."""
    found = [line.split(prefix, 1)[1] for line in log.splitlines() if prefix in line]
    return [re.sub(r"\s+\[[\w.]+\]\s+loc=\S+\s*$", "", text).strip() for text in found]


def test_upstream_subclass_callbacks_and_policy_work_unchanged(
    local_cluster_connection, run_dag, mode, policy
):
    result = run_dag(
        dag_source(
            "upstream_surface",
            """image="busybox:1.36", cmds=["sh", "-c", "echo policy=$FROM_POLICY; echo 42 > /airflow/xcom/return.json"],
            do_xcom_push=True, on_finish_action="keep_pod", callbacks=Seen""",
            extra=UPSTREAM_STYLE,
            operator="Custom",
        )
    )
    assert result.task_states == {"task": "success"}, result.log[-3000:]
    assert result.xcom("task") == 42
    assert "[base] policy=yes" in result.log
    (pod,) = task_pods(local_cluster_connection)
    name = pod["metadata"]["name"]
    labels = pod["metadata"]["labels"]
    # The subclass's request was created, with the policy applied; kept pods are marked as upstream does.
    assert (labels["built-by"], labels["policy"], labels["already_checked"]) == (
        "subclass",
        "applied",
        "True",
    )

    log = result.log
    assert lines(log, "sub get_or_create_pod") == ["request=subclass"]
    assert lines(log, "sub find_pod") == ["-> None"]  # the first try has no pod to adopt
    assert lines(log, "sub created") == [f"{name} has-uid=True"]
    assert lines(log, "sub cleanup") == [f"{name} remote=Succeeded read=Succeeded xcom=42"]
    assert lines(log, "sub after") == [
        f"pod={name} request=subclass remote=Succeeded hook=KubernetesHook client=CoreV1Api"
    ]
    assert lines(log, "cb creation") == [f"sync {name} same-uid=True"]
    assert lines(log, "cb cleanup") == ["sync checked=True"]
    for point in ("starting", "completion", "teardown"):
        assert lines(log, f"cb {point}") == [name], point
    assert lines(log, "cb resuming") == ([name] if mode == "deferrable" else [])
    order = [
        log.index(f"cb {point}") for point in ("creation", "starting", "completion", "teardown", "cleanup")
    ]
    assert order == sorted(order)


def test_a_kept_pod_is_labelled_checked_and_never_adopted_by_the_next_try(
    local_cluster_connection, run_dag, mode
):
    # The main container fails; a sidecar keeps the pod Running, so without the label the retry would
    # adopt the pod of the first try (still live) instead of running its own.
    result = run_dag(
        dag_source(
            "kept_not_adopted",
            """image="busybox:1.36", cmds=["sh", "-c", "echo try; exit 3"], on_finish_action="keep_pod",
            retries=1, retry_delay=datetime.timedelta(seconds=0),
            full_pod_spec={"spec": {"containers": [
                {"name": "base", "image": "busybox:1.36"},
                {"name": "proxy", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"]},
            ]}}, termination_grace_period=1""",
        )
    )
    assert result.task_states == {"task": "failed"}
    assert result.tries == {"task": 2}
    assert "Adopting pod" not in result.log
    pods = task_pods(local_cluster_connection)
    assert sorted(p["metadata"]["labels"]["try_number"] for p in pods) == ["1", "2"]
    assert all(p["metadata"]["labels"]["already_checked"] == "True" for p in pods)


def test_api_errors_are_caught_as_api_exception(local_cluster_connection, run_dag, mode):
    extra = """
from kubernetes.client.exceptions import ApiException

class Catching(KubernetesPodOperator):
    def execute(self, context):
        try:
            return super().execute(context)
        except ApiException as exc:
            self.log.info("caught %s status=%s reason=%s body-kind=%s", type(exc).__name__, exc.status, exc.reason, json.loads(exc.body)["kind"])
            self.log.info("caught message: %s", exc)
"""
    result = run_dag(
        dag_source(
            "api_exception",
            """image="busybox:1.36", cmds=["true"], namespace="no-such-namespace" """,
            extra=extra,
            operator="Catching",
        )
    )
    assert result.task_states == {"task": "success"}
    assert "caught NotFoundError status=404 reason=NotFound body-kind=Status" in result.log
    assert "caught message: create pod " in result.log
    assert 'namespaces "no-such-namespace" not found' in result.log
    assert local_cluster_connection.pods("no-such-namespace") == []


# -- without a cluster --------------------------------------------------------------------------------------


def test_upstream_exception_classes_are_importable_where_upstream_users_import_them():
    from airflow.exceptions import AirflowException

    from airflow_provider_k8spod import exceptions
    from airflow_provider_k8spod.operators import pod as operator_module

    for name in (
        "PodReattachFailure",
        "PodCredentialsExpiredFailure",
        "FoundMoreThanOnePodFailure",
        "PodLaunchFailedException",
        "PodNotFoundException",
    ):
        cls = getattr(operator_module, name)
        assert cls is getattr(exceptions, name)
        assert issubclass(cls, AirflowException)
    assert issubclass(exceptions.PodStartupError, exceptions.PodLaunchFailedException)
    assert issubclass(exceptions.PodStartupTimeoutError, exceptions.PodLaunchTimeoutException)
    assert issubclass(exceptions.XComResultError, exceptions.XComRetrievalError)
    assert issubclass(exceptions.ExecError, exceptions.PodCommandException)
    assert issubclass(exceptions.ForbiddenError, exceptions.KubernetesApiPermissionError)


def test_what_pod_manager_does_not_provide_says_why():
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    manager = KubernetesPodOperator(task_id="t", image="busybox").pod_manager
    with pytest.raises(AttributeError, match="the operator follows logs itself"):
        manager.fetch_requested_container_logs(pod=None, containers=True)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_method'"):
        manager.no_such_method()


def test_pod_manager_adapter_against_the_cluster(local_cluster_connection):
    from airflow_provider_k8spod.operators.pod import KubernetesPodOperator

    op = KubernetesPodOperator(
        task_id="by_hand",
        image="busybox:1.36",
        cmds=["sh", "-c", "echo hello; echo '[1, 2]' > /airflow/xcom/return.json"],
        do_xcom_push=True,
    )
    manager = op.pod_manager
    pod = manager.create_pod(op.build_pod_request_obj())
    assert pod.metadata.uid
    manager.await_container_completion(pod, "base")
    assert manager.container_is_terminated(pod, "base")
    assert b"".join(manager.read_pod_logs(pod, "base", follow=False)) == b"hello\n"
    manager.await_xcom_sidecar_container_start(pod)
    assert manager.extract_xcom(pod).strip() == "[1, 2]"
    assert manager.await_pod_completion(pod).status.phase == "Succeeded"  # the sidecar was stopped
    assert any(e.reason == "Started" for e in manager.read_pod_events(pod).items)
    manager.delete_pod(pod)
    manager.delete_pod(pod)  # already gone is fine
    local_cluster_connection.wait_for_pod("default", pod.metadata.name, gone=True, timeout=30)


def test_api_errors_pickle_and_keep_both_natures():
    import pickle

    from kubernetes.client.exceptions import ApiException, NotFoundException

    from airflow_provider_k8spod.exceptions import KubernetesApiError, NotFoundError

    error = NotFoundError(
        'get pod "p" in namespace "ns": 404 NotFound', status=404, reason="NotFound", body="{}"
    )
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, NotFoundException)
    assert isinstance(again, KubernetesApiError)
    assert type(again) is type(error)
    assert (str(again), again.status, again.reason, again.body) == (str(error), 404, "NotFound", "{}")
    assert isinstance(KubernetesApiError("no answer"), ApiException)
