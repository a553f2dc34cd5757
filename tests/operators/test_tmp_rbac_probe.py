import json
import kubernetes
import pytest
from tests.operators.kpo import dag_source

RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
]

def test_probe(local_cluster, monkeypatch, run_dag, mode):
    c = local_cluster
    cfg = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=c.kubeconfig_path, client_configuration=cfg)
    api = kubernetes.client.ApiClient(cfg)
    kubernetes.client.CoreV1Api(api).create_namespaced_service_account("default", {"metadata": {"name": "w"}})
    r = kubernetes.client.RbacAuthorizationV1Api(api)
    r.create_namespaced_role("default", {"metadata": {"name": "op"}, "rules": RULES})
    r.create_namespaced_role_binding("default", {"metadata": {"name": "op"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "op"}, "subjects": [{"kind": "ServiceAccount", "name": "w"}]})
    path = c.service_account_kubeconfig("default", "w")
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({"conn_type": "k8spod", "extra": {"kube_config_path": path, "namespace": "default"}}))
    c.reset_stats()
    res = run_dag(dag_source(f"probe_{mode}", """image="busybox:1.36", cmds=["sh", "-c", "echo hi; mkdir -p /airflow/xcom; echo '{\\"a\\": 1}' > /airflow/xcom/return.json"], do_xcom_push=True"""))
    print("STATS", c.stats())
    print("\n".join(l for l in res.log.splitlines() if "orbidden" in l or "403" in l))
    assert res.task_states == {"task": "success"}, res.log[-3000:]
    assert res.xcom("task") == {"a": 1}
