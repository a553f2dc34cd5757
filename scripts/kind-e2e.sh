#!/usr/bin/env bash
# Run the opt-in real-cluster suite (tests/kind) against a throw-away kind cluster, then delete it.
#
#   bash scripts/kind-e2e.sh              # extra arguments go to pytest, e.g. -k skip_on_exit_code -x
#
# Needs docker and kind (https://kind.sigs.k8s.io) on PATH. The images the scenarios use are pulled once by
# docker and loaded into the cluster's node, so the scenarios' start-up budgets do not include registry
# pulls. Settings (all optional):
#   K8SPOD_KIND_CLUSTER     cluster name (default k8spod-e2e); an existing cluster of that name is refused
#   K8SPOD_KIND_NODE_IMAGE  kindest/node image, i.e. the Kubernetes version (default: kind's own)
#   K8SPOD_E2E_NAMESPACE    namespace of the pods (default default)
set -euo pipefail
cd "$(dirname "$0")/.."

# Every image the scenarios of tests/kind run (tests/test_kind_e2e_script.py checks this list against them).
IMAGES=(
    busybox:1.36
    python:3.11-slim
    ubuntu:24.04
    registry.k8s.io/e2e-test-images/busybox:1.36.1-1
)

CLUSTER="${K8SPOD_KIND_CLUSTER:-k8spod-e2e}"

for tool in docker kind; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "kind-e2e: '$tool' is not on PATH (this script needs docker and kind)" >&2
        exit 2
    fi
done
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    echo "kind-e2e: a kind cluster named '$CLUSTER' exists already; delete it or set K8SPOD_KIND_CLUSTER" >&2
    exit 2
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/k8spod-kind.XXXXXX")"
kubeconfig="$workdir/kubeconfig"
cleanup() {
    local status=$?
    echo "kind-e2e: deleting cluster '$CLUSTER'" >&2
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || echo "kind-e2e: could not delete cluster '$CLUSTER'" >&2
    rm -rf "$workdir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node_image=()
if [ -n "${K8SPOD_KIND_NODE_IMAGE:-}" ]; then
    node_image=(--image "$K8SPOD_KIND_NODE_IMAGE")
fi
kind create cluster --name "$CLUSTER" --kubeconfig "$kubeconfig" --wait 180s ${node_image[@]+"${node_image[@]}"}

for image in "${IMAGES[@]}"; do
    if ! docker image inspect "$image" >/dev/null 2>&1; then
        docker pull --quiet "$image"
    fi
    kind load docker-image --name "$CLUSTER" "$image"
done

bash scripts/bootstrap.sh
K8SPOD_E2E_KUBECONFIG="$kubeconfig" .venv/bin/python -m pytest tests/kind -m kind "$@"
