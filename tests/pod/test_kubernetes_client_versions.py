"""What depends on the generation of the installed ``kubernetes`` client: 36 (plain models that take any
value, type names spelled ``list[...]`` / ``dict[str, ...]``) or 37 (pydantic models that validate values,
``List[...]`` / ``Dict[str, ...]``). CI runs this file with both: constraints.txt pins 37 and
scripts/test-kubernetes36.sh runs it again with 36."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client import models as k8s

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.pod.normalize import to_api

MAJOR = int(kubernetes.__version__.split(".")[0])
ROOT = Path(__file__).resolve().parents[2]


def test_the_client_is_a_supported_generation() -> None:
    assert MAJOR in (36, 37), kubernetes.__version__


def test_quantities_given_as_numbers_build_a_pod_whenever_the_model_takes_them() -> None:
    # DAGs written for upstream (kubernetes<37) pass numbers; a 36 model keeps them as they are, and the
    # pod has them as quantity strings, as the API server takes them.
    values = {"limits": {"cpu": 0.25, "memory": 1e9, "nvidia.com/gpu": 1}, "requests": {"cpu": 0.1}}
    resources: object
    if MAJOR >= 37:
        # 37's models take quantities as strings only (pydantic's ValidationError is a ValueError): the DAG
        # fails in kubernetes itself; the same values as a dict are taken with any client.
        with pytest.raises(ValueError, match="valid string"):
            k8s.V1ResourceRequirements(**values)
        resources = values
    else:
        resources = k8s.V1ResourceRequirements(**values)
    pod = KubernetesPodOperator(
        task_id="numbers", image="busybox:1.36", container_resources=resources
    ).build_pod_manifest()
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "0.25", "memory": "1000000000", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "0.1"},
    }


def test_map_fields_are_recognized_however_the_client_spells_their_type() -> None:
    spelled = k8s.V1ResourceRequirements.openapi_types["limits"]
    assert spelled == ("dict[str, str]" if MAJOR < 37 else "Dict[str, str]")
    with pytest.raises(PodSpecError, match=r"^container_resources\.limits: expected a mapping, got list"):
        to_api({"limits": ["1"]}, "V1ResourceRequirements", "container_resources")
    assert to_api({"limits": {"cpu": 1}}, "V1ResourceRequirements", "r") == {"limits": {"cpu": "1"}}


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9._-]+)==(\S+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_the_two_constraints_files_differ_only_by_kubernetes() -> None:
    main, other = _pins(ROOT / "constraints.txt"), _pins(ROOT / "scripts" / "constraints-kubernetes36.txt")
    assert main["kubernetes"].startswith("37.")
    assert other["kubernetes"].startswith("36.")
    common = (set(main) & set(other)) - {"kubernetes"}
    assert {name: (main[name], other[name]) for name in common if main[name] != other[name]} == {}
    # What only one of them pins is there for its kubernetes alone (e.g. aiohttp-retry for 37).
    text = {
        "main": (ROOT / "constraints.txt").read_text(encoding="utf-8"),
        "other": (ROOT / "scripts" / "constraints-kubernetes36.txt").read_text(encoding="utf-8"),
    }
    for key, only in (("main", set(main) - set(other)), ("other", set(other) - set(main))):
        for name in only:
            assert re.search(rf"^{re.escape(name)}==\S+\n    # via kubernetes\n", text[key], re.MULTILINE), (
                name
            )
