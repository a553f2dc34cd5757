"""Run by the upstream virtualenv's interpreter: build every corpus case with upstream's operator.

``python upstream_build.py <workdir> <output.json>`` writes ``{case id: {"pod": ...} | {"error": ...}}``.
One process for the whole corpus. The pod is what upstream's task builds: ``execute()`` first normalizes
``name`` (``_set_name``), then ``build_pod_request_obj(context)`` (cluster policy included), serialized as
the API client sends it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # corpus and harness only; never our package

import corpus
import harness


def main() -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import ApiClient
    from kubernetes.client import models as k8s

    client = ApiClient()

    def build(operator, context):
        operator.name = operator._set_name(operator.name)
        return client.sanitize_for_serialization(operator.build_pod_request_obj(context))

    workdir, output = Path(sys.argv[1]), Path(sys.argv[2])
    results = {
        case["id"]: harness.build_case(case, KubernetesPodOperator, build)
        for case in corpus.cases(k8s, Secret, workdir)
    }
    output.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
