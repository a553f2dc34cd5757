#!/usr/bin/env bash
# The part of the suite that depends on the kubernetes client's generation, run against kubernetes 36 in
# .venv-k8s36 (pinned by scripts/constraints-kubernetes36.txt; .venv has 37, pinned by constraints.txt):
# models and dicts in arguments, building and templating the pod, upstream's operator surface (V1Pod
# attributes, callbacks, pod_mutation_hook), the sync hook, the trigger, and runs in both modes. CI runs it after scripts/test.sh. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh  # .venv, whose uv installs .venv-k8s36
venv=.venv-k8s36
if [ ! -x "$venv/bin/python" ]; then
    .venv/bin/python -m uv venv --quiet --python .venv/bin/python "$venv"
fi
.venv/bin/python -m uv pip install --quiet --python "$venv/bin/python" \
    -c scripts/constraints-kubernetes36.txt -e ".[test]"
"$venv/bin/python" -c 'import kubernetes, kubernetes_asyncio as a; print(f"kubernetes {kubernetes.__version__}, kubernetes_asyncio {a.__version__}")'
exec "$venv/bin/python" -m pytest -n 2 \
    tests/pod/test_kubernetes_client_versions.py \
    tests/operators/test_pod_shape.py \
    tests/operators/test_pod_log_order.py \
    tests/pod/test_normalize.py \
    tests/pod/test_spec_cases.py \
    tests/pod/test_spec_errors.py \
    tests/pod/test_validation.py \
    tests/operators/test_pod_spec.py \
    tests/operators/test_pod_spec_templating.py \
    tests/operators/test_pod_upstream_surface.py \
    tests/hooks/test_api.py \
    tests/hooks/test_hooks_cluster.py -k "not (test_hooks_cluster and async)" \
    tests/triggers \
    tests/operators/test_pod_run.py::test_passing_pod_prints_hello_world_and_is_deleted \
    tests/operators/test_pod_run.py::test_xcom_dict \
    "$@"
