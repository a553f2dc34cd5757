from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_k8spod.testing.apiserver.patch import (
    PatchError,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

POD: dict[str, Any] = {
    "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "base", "image": "busybox", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "alpine"},
        ]
    },
}


def test_merge_patch_sets_and_deletes_labels() -> None:
    out = json_merge_patch(POD, {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}


def test_merge_patch_replaces_lists() -> None:
    out = json_merge_patch(POD, {"spec": {"containers": [{"name": "base", "image": "x"}]}})
    assert out["spec"]["containers"] == [{"name": "base", "image": "x"}]


def test_strategic_merge_merges_containers_by_name() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "side", "image": "alpine:3"}]}})
    assert [c["image"] for c in out["spec"]["containers"]] == ["busybox", "alpine:3"]
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_strategic_merge_delete_directive_and_finalizer_set() -> None:
    out = strategic_merge_patch(
        POD,
        {
            "metadata": {"finalizers": ["y", "x"]},
            "spec": {"containers": [{"name": "side", "$patch": "delete"}]},
        },
    )
    assert out["metadata"]["finalizers"] == ["x", "y"]
    assert [c["name"] for c in out["spec"]["containers"]] == ["base"]


def test_strategic_merge_delete_from_primitive_list() -> None:
    out = strategic_merge_patch(POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}})
    assert out["metadata"]["finalizers"] == []


def test_json_patch_operations() -> None:
    ops = [
        {"op": "add", "path": "/metadata/labels/c", "value": "3"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1"},
        {"op": "test", "path": "/metadata/name", "value": "p"},
        {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/d"},
        {"op": "move", "from": "/metadata/labels/d", "path": "/metadata/labels/e"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "z"},
    ]
    out = json_patch(POD, ops)
    assert out["metadata"]["labels"] == {"b": "2", "c": "3", "e": "2"}
    assert out["spec"]["containers"][0]["image"] == "busybox:1"
    assert out["metadata"]["finalizers"] == ["x", "z"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/metadata/nope"}],
        [{"op": "test", "path": "/metadata/name", "value": "q"}],
        {"op": "add"},
        [{"op": "frobnicate", "path": "/x"}],
    ],
)
def test_json_patch_errors(ops: Any) -> None:
    with pytest.raises(PatchError):
        json_patch(POD, ops)


def test_apply_patch_dispatches_on_content_type() -> None:
    patch = {"spec": {"containers": [{"name": "side", "image": "a"}]}}
    smp = apply_patch("application/strategic-merge-patch+json", POD, patch)
    merge = apply_patch("application/merge-patch+json; charset=utf-8", POD, patch)
    assert len(smp["spec"]["containers"]) == 2
    assert len(merge["spec"]["containers"]) == 1
    with pytest.raises(PatchError):
        apply_patch("text/plain", POD, patch)
