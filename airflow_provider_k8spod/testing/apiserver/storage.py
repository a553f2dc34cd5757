"""PersistentVolumeClaims, PersistentVolumes and StorageClasses as kube-apiserver admits them: defaults,
the DefaultStorageClass and StorageObjectInUseProtection admission plugins, validation, and the cluster's
default StorageClass.

Pure functions over JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from airflow_provider_k8spod.testing._util import JSON, new_uid, rfc3339
from airflow_provider_k8spod.testing.apiserver import quantity
from airflow_provider_k8spod.testing.apiserver.errors import Cause
from airflow_provider_k8spod.testing.apiserver.validation import (
    forbidden_field,
    invalid_value,
    not_supported,
    required,
    validate_object_meta,
)

# Named as kind names its default class, so claims written for kind (``storageClassName: standard``, or
# none) bind here unchanged. The provisioner behind it is ours (controllers/volumes.py).
DEFAULT_CLASS = "standard"
PROVISIONER = "rancher.io/local-path"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
PV_SOURCES = (
    "hostPath",
    "local",
    "nfs",
    "csi",
    "iscsi",
    "fc",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "cephfs",
    "rbd",
    "cinder",
    "flexVolume",
    "vsphereVolume",
    "portworxVolume",
    "glusterfs",
)


def parse_quantity(value: Any) -> Decimal | None:
    """A resource quantity (``1Gi``, ``500M``, ``1e3``, 2) as a number, or None when it is not one."""
    try:
        return quantity.from_json(value).to_decimal()
    except quantity.QuantityError:
        return None


def default_storage_class() -> JSON:
    return {
        "kind": "StorageClass",
        "apiVersion": "storage.k8s.io/v1",
        "metadata": {
            "name": DEFAULT_CLASS,
            "uid": new_uid(),
            "creationTimestamp": rfc3339(),
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def is_default_class(storage_class: Mapping[str, Any]) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return "true" in (
        annotations.get(DEFAULT_CLASS_ANNOTATION),
        annotations.get(BETA_DEFAULT_CLASS_ANNOTATION),
    )


def pick_default_class(classes: Sequence[Mapping[str, Any]]) -> str | None:
    """The DefaultStorageClass admission plugin: the newest class annotated default (name breaks ties)."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    newest = max(defaults, key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]))
    return str(newest["metadata"]["name"])


# ------------------------------------------------------------------------------------------------ claims


def admit_claim(claim: JSON, classes: Sequence[Mapping[str, Any]]) -> None:
    """Defaults, DefaultStorageClass and StorageObjectInUseProtection for a new claim (in place)."""
    spec = claim.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("volumeMode", "Filesystem")
    if spec.get("storageClassName") is None:
        spec.pop("storageClassName", None)
        default = pick_default_class(classes)
        if default is not None:
            spec["storageClassName"] = default
    finalizers = claim["metadata"].setdefault("finalizers", [])
    if PVC_PROTECTION not in finalizers:
        finalizers.append(PVC_PROTECTION)
    claim["status"] = {"phase": "Pending"}


def _access_mode_causes(path: str, modes: Any) -> list[Cause]:
    if not modes:
        return [required(path, "at least 1 access mode is required")]
    if not isinstance(modes, list):
        return [invalid_value(path, modes, "must be a list of access modes")]
    causes = [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(forbidden_field(path, "may not use ReadWriteOncePod with other access modes"))
    return causes


def _quantity_cause(path: str, value: Any) -> Cause | None:
    parsed = parse_quantity(value)
    if parsed is None:
        return invalid_value(
            path,
            value,
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
    if parsed <= 0:
        return invalid_value(path, value, "must be greater than zero")
    return None


def validate_claim(claim: Mapping[str, Any]) -> list[Cause]:
    causes = validate_object_meta(claim.get("metadata"))
    spec = claim.get("spec")
    if not isinstance(spec, dict):
        return [*causes, required("spec")]
    causes += _access_mode_causes("spec.accessModes", spec.get("accessModes"))
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests:
        causes.append(required("spec.resources[storage]"))
    else:
        cause = _quantity_cause("spec.resources[storage]", requests["storage"])
        if cause is not None:
            causes.append(cause)
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported("spec.volumeMode", mode, VOLUME_MODES))
    return causes


def claim_update_causes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Cause]:
    """A claim's spec is immutable after creation, except the storage request of a bound claim."""

    def masked(spec: Mapping[str, Any]) -> JSON:
        out = {k: v for k, v in spec.items() if k not in ("resources", "volumeAttributesClassName")}
        if not old.get("spec", {}).get("volumeName"):
            out.pop("volumeName", None)
        return out

    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if masked(old_spec) == masked(new_spec) and (
        old_spec.get("resources") == new_spec.get("resources")
        or (old.get("status") or {}).get("phase") == "Bound"
    ):
        return []
    return [
        forbidden_field(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound "
            "claims",
        )
    ]


# ----------------------------------------------------------------------------------------------- volumes


def admit_volume(volume: JSON) -> None:
    spec = volume.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    finalizers = volume["metadata"].setdefault("finalizers", [])
    if PV_PROTECTION not in finalizers:
        finalizers.append(PV_PROTECTION)
    volume["status"] = {"phase": "Pending"}


def validate_volume(volume: Mapping[str, Any]) -> list[Cause]:
    causes = validate_object_meta(volume.get("metadata"))
    spec = volume.get("spec")
    if not isinstance(spec, dict):
        return [*causes, required("spec")]
    causes += _access_mode_causes("spec.accessModes", spec.get("accessModes"))
    capacity = spec.get("capacity") or {}
    if not capacity:
        causes.append(required("spec.capacity"))
    elif "storage" not in capacity:
        causes.append(not_supported("spec.capacity", next(iter(capacity)), ["storage"]))
    else:
        cause = _quantity_cause("spec.capacity[storage]", capacity["storage"])
        if cause is not None:
            causes.append(cause)
    sources = [key for key in PV_SOURCES if key in spec]
    if not sources:
        causes.append(required("spec", "must specify a volume type"))
    elif len(sources) > 1:
        causes.append(forbidden_field(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in RECLAIM_POLICIES:
        causes.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict) and not str(host_path.get("path") or "").startswith("/"):
        causes.append(
            required("spec.hostPath.path")
            if not host_path.get("path")
            else invalid_value("spec.hostPath.path", host_path.get("path"), "must be an absolute path")
        )
    return causes


# ------------------------------------------------------------------------------------------------ classes


def admit_class(storage_class: JSON) -> None:
    storage_class.setdefault("reclaimPolicy", "Delete")
    storage_class.setdefault("volumeBindingMode", "Immediate")


def validate_class(storage_class: Mapping[str, Any]) -> list[Cause]:
    causes = validate_object_meta(storage_class.get("metadata"))
    if not storage_class.get("provisioner"):
        causes.append(required("provisioner"))
    policy = storage_class.get("reclaimPolicy")
    if policy not in ("Delete", "Retain"):
        causes.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = storage_class.get("volumeBindingMode")
    if mode not in BINDING_MODES:
        causes.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    return causes


def class_update_causes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Cause]:
    causes = []
    for key in ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"):
        if old.get(key) != new.get(key):
            causes.append(forbidden_field(key, "updates to " + key + " are forbidden."))
    return causes
