"""The persistent volume controller, the pvc/pv protection controllers and the cluster's provisioner.

Like kube-controller-manager's controllers it follows the store through watches (claims, volumes, pods)
and reacts to each change:

- binds a pending claim to a matching Available volume, or asks the claim's StorageClass provisioner;
- ``standard`` (the default class, ``rancher.io/local-path``, WaitForFirstConsumer) provisions a volume
  once the scheduler picked a node for the first pod using the claim: a directory in the cluster's state
  directory, shared by every pod that mounts the claim, published as a ``hostPath`` PersistentVolume
  named ``pvc-<claim uid>``;
- a deleted claim releases its volume; reclaim policy Delete removes the volume and its directory;
- ``kubernetes.io/pvc-protection`` keeps a deleted claim while a pod uses it, ``kubernetes.io/pv-protection``
  keeps a deleted volume while it is bound.

Events are worded and sourced as the real controllers word them.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
from collections.abc import Callable
from decimal import Decimal
from typing import cast

from airflow_provider_k8spod.testing._util import JSON, new_uid, random_suffix, rfc3339
from airflow_provider_k8spod.testing.apiserver import objects
from airflow_provider_k8spod.testing.apiserver.events import EventRecorder
from airflow_provider_k8spod.testing.apiserver.storage import (
    PROVISIONER,
    PV_PROTECTION,
    PVC_PROTECTION,
    admit_claim,
    default_storage_class,
    parse_quantity,
)
from airflow_provider_k8spod.testing.apiserver.store import Change, Store
from airflow_provider_k8spod.testing.controllers.scheduler import pod_claims

log = logging.getLogger(__name__)

PV_CONTROLLER = "persistentvolume-controller"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH_NODE = "local.path.provisioner/selected-node"
TERMINAL_PHASES = ("Succeeded", "Failed")


def claim_names(pod: JSON) -> list[str]:
    return [name for name, _ in pod_claims(pod)]


def _annotations(obj: JSON) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    return cast(dict[str, str], annotations)


def _size(obj: JSON, *path: str) -> Decimal:
    value: object = obj
    for key in path:
        value = (value or {}).get(key) if isinstance(value, dict) else None
    parsed = parse_quantity(value) if value is not None else None
    return parsed if parsed is not None else Decimal(0)


def _concerns_claims(change: Change) -> bool:
    """A pod change the controller acts on: a new pod with generic ephemeral volumes (their claims are
    created), or a pod that is gone or finished and mounts claims (their use may end)."""
    pod = change.obj
    if change.type == "ADDED":
        return any(ephemeral for _, ephemeral in pod_claims(pod))
    if change.type != "DELETED" and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
        return False
    return bool(pod_claims(pod))


class VolumeController:
    def __init__(
        self,
        store: Store,
        recorder: EventRecorder,
        state_dir: str,
        on_claims_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.root = os.path.join(state_dir, "local-path-provisioner")
        self.on_claims_changed = on_claims_changed
        # The provisioner signs its events like an external provisioner: <name>_<pod>_<uuid>.
        self.identity = (
            f"{PROVISIONER}_local-path-provisioner-{random_suffix(10)}-{random_suffix(5)}_{new_uid()}"
        )
        self.stopped = False

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.store.get("storageclasses", "", "standard") is None:
            self.store.create("storageclasses", default_storage_class())
        for resource, handler in (
            ("persistentvolumeclaims", self._claim_changed),
            ("persistentvolumes", self._volume_changed),
            ("pods", self._pod_changed),
        ):
            self.store.subscribe(resource, self._queue(handler, resource))

    def _queue(self, handler: Callable[[Change], None], resource: str) -> Callable[[Change], None]:
        """Handle each change on the next loop iteration, after the write that made it (an informer)."""

        def listener(change: Change) -> None:
            if self.stopped or (resource == "pods" and not _concerns_claims(change)):
                return
            asyncio.get_running_loop().call_soon(self._handle, handler, change)

        return listener

    def _handle(self, handler: Callable[[Change], None], change: Change) -> None:
        try:
            handler(change)
        except Exception:  # a bug here must not stop the cluster
            log.exception("volume controller failed on %s %s", change.type, change.obj.get("kind"))

    def stop(self) -> None:
        self.stopped = True

    # -------------------------------------------------------------------------------------------- events

    def _event(
        self, obj: JSON, event_type: str, reason: str, message: str, component: str = PV_CONTROLLER
    ) -> None:
        resource = (
            "persistentvolumeclaims" if obj.get("kind") == "PersistentVolumeClaim" else "persistentvolumes"
        )
        self.recorder.controller(objects.with_kind(resource, obj), event_type, reason, message, component)

    # ------------------------------------------------------------------------------------------- claims

    def _claim_changed(self, change: Change) -> None:
        if change.type == "DELETED":
            self._claim_deleted(change.obj)
            return
        current = self.store.get(
            "persistentvolumeclaims", change.obj["metadata"]["namespace"], change.obj["metadata"]["name"]
        )
        if current is not None and current["metadata"]["uid"] == change.obj["metadata"]["uid"]:
            self.sync_claim(current)
        if change.type == "ADDED":
            self._claims_changed()

    def sync_claim(self, claim: JSON) -> None:
        meta = claim["metadata"]
        if meta.get("deletionTimestamp"):
            self._finish_claim_deletion(claim)
            return
        status = claim.get("status") or {}
        spec = claim.get("spec") or {}
        if status.get("phase") == "Bound":
            if spec.get("volumeName") and self.store.get("persistentvolumes", "", spec["volumeName"]) is None:
                lost = self._claim_copy(claim)
                lost["status"]["phase"] = "Lost"
                self._update_claim(lost)
                self._event(
                    lost,
                    "Warning",
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
            return
        if status.get("phase") == "Lost":
            return
        if spec.get("volumeName"):
            volume = self.store.get("persistentvolumes", "", spec["volumeName"])
            if volume is None:
                self._event(claim, "Normal", "FailedBinding", f'volume "{spec["volumeName"]}" not found')
                return
            ref = (volume.get("spec") or {}).get("claimRef") or {}
            if ref and (ref.get("uid") not in (None, "", meta["uid"]) or ref.get("name") != meta["name"]):
                self._event(
                    claim,
                    "Warning",
                    "FailedBinding",
                    f'volume "{spec["volumeName"]}" already bound to a different claim.',
                )
                return
            self.bind(claim, volume, claim_by_controller=False)
            return
        volume = self._matching_volume(claim)
        if volume is not None:
            self.bind(claim, volume, claim_by_controller=True)
            return
        class_name = spec.get("storageClassName") or ""
        if not class_name:
            self._event(
                claim,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            return
        storage_class = self.store.get("storageclasses", "", class_name)
        if storage_class is None:
            self._event(
                claim,
                "Warning",
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{class_name}" not found',
            )
            return
        node = _annotations(copy.deepcopy(claim)).get(SELECTED_NODE)
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer" and not node:
            self._event(
                claim,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        self._provision(claim, storage_class, node)

    def select_node(self, claim: JSON, node: str) -> bool:
        """The scheduler picked ``node`` for a pod using this WaitForFirstConsumer claim. Returns whether the
        claim is bound now (our provisioner provisions at once; another provisioner leaves it pending)."""
        annotated = self._claim_copy(claim)
        _annotations(annotated)[SELECTED_NODE] = node
        stored = self._update_claim(annotated)
        storage_class = self.store.get(
            "storageclasses", "", (stored.get("spec") or {}).get("storageClassName") or ""
        )
        if storage_class is None:
            return False
        self._provision(stored, storage_class, node)
        current = self.store.get(
            "persistentvolumeclaims", stored["metadata"]["namespace"], stored["metadata"]["name"]
        )
        return current is not None and (current.get("status") or {}).get("phase") == "Bound"

    def _provision(self, claim: JSON, storage_class: JSON, node: str | None) -> None:
        provisioner = str(storage_class.get("provisioner") or "")
        annotations = _annotations(copy.deepcopy(claim))
        if annotations.get(STORAGE_PROVISIONER) != provisioner:
            annotated = self._claim_copy(claim)
            _annotations(annotated)[STORAGE_PROVISIONER] = provisioner
            _annotations(annotated)[BETA_STORAGE_PROVISIONER] = provisioner
            claim = self._update_claim(annotated)
        self._event(
            claim,
            "Normal",
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually "
            f"by the system administrator. If volume creation is delayed, please verify that the provisioner is "
            f"running and correctly registered.",
        )
        if provisioner != PROVISIONER:
            return
        meta = claim["metadata"]
        self._event(
            claim,
            "Normal",
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{meta["namespace"]}/{meta["name"]}"',
            self.identity,
        )
        class_name = storage_class["metadata"]["name"]
        if not node:
            self._event(
                claim,
                "Warning",
                "ProvisioningFailed",
                f'failed to provision volume with StorageClass "{class_name}": configuration error, no node was specified',
                self.identity,
            )
            return
        name = f"pvc-{meta['uid']}"
        path = os.path.join(self.root, f"{name}_{meta['namespace']}_{meta['name']}")
        os.makedirs(path, mode=0o777, exist_ok=True)
        os.chmod(path, 0o777)
        spec = claim.get("spec") or {}
        volume: JSON = {
            "kind": "PersistentVolume",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": new_uid(),
                "creationTimestamp": rfc3339(),
                "annotations": {LOCAL_PATH_NODE: node, PROVISIONED_BY: PROVISIONER},
                "finalizers": [PV_PROTECTION],
            },
            "spec": {
                "accessModes": list(spec.get("accessModes") or []),
                "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage")},
                "claimRef": self._claim_ref(claim),
                "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                ]
                            }
                        ]
                    }
                },
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "storageClassName": class_name,
                "volumeMode": spec.get("volumeMode") or "Filesystem",
            },
            "status": {"phase": "Pending"},
        }
        if self.store.get("persistentvolumes", "", name) is None:
            volume = self.store.create("persistentvolumes", volume)
        else:
            volume = self.store.get("persistentvolumes", "", name) or volume
        self._event(
            claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}", self.identity
        )
        current = self.store.get("persistentvolumeclaims", meta["namespace"], meta["name"]) or claim
        self.bind(current, volume, claim_by_controller=True)

    def _matching_volume(self, claim: JSON) -> JSON | None:
        """The smallest Available volume of the claim's class that has its access modes and size."""
        spec = claim.get("spec") or {}
        wanted_class = spec.get("storageClassName") or ""
        modes = set(spec.get("accessModes") or [])
        request = _size(claim, "spec", "resources", "requests", "storage")
        candidates = []
        for volume in self.store.list("persistentvolumes"):
            vspec = volume.get("spec") or {}
            if (
                volume["metadata"].get("deletionTimestamp")
                or (volume.get("status") or {}).get("phase") != "Available"
            ):
                continue
            ref = vspec.get("claimRef")
            if ref and (
                ref.get("name") != claim["metadata"]["name"]
                or ref.get("namespace") != claim["metadata"]["namespace"]
            ):
                continue
            if (vspec.get("storageClassName") or "") != wanted_class or not modes <= set(
                vspec.get("accessModes") or []
            ):
                continue
            size = _size(volume, "spec", "capacity", "storage")
            if size >= request:
                candidates.append((size, volume["metadata"]["name"], volume))
        return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None

    def bind(self, claim: JSON, volume: JSON, *, claim_by_controller: bool) -> None:
        now = rfc3339()
        bound_volume = copy.deepcopy(volume)
        vspec = bound_volume.setdefault("spec", {})
        if not (vspec.get("claimRef") or {}).get("uid"):
            if not vspec.get("claimRef"):
                _annotations(bound_volume)[BOUND_BY_CONTROLLER] = "yes"
            vspec["claimRef"] = self._claim_ref(claim)
        bound_volume["status"] = {"phase": "Bound", "lastPhaseTransitionTime": now}
        if bound_volume != volume:
            self.store.update("persistentvolumes", bound_volume)
        bound = self._claim_copy(claim)
        bound["spec"]["volumeName"] = volume["metadata"]["name"]
        annotations = _annotations(bound)
        annotations[BIND_COMPLETED] = "yes"
        if claim_by_controller:
            annotations[BOUND_BY_CONTROLLER] = "yes"
        bound["status"] = {
            "phase": "Bound",
            "accessModes": list(vspec.get("accessModes") or []),
            "capacity": dict(vspec.get("capacity") or {}),
        }
        self._update_claim(bound)
        self._claims_changed()

    def _claim_deleted(self, claim: JSON) -> None:
        name = (claim.get("spec") or {}).get("volumeName")
        volume = self.store.get("persistentvolumes", "", name) if name else None
        if (
            volume is None
            or ((volume.get("spec") or {}).get("claimRef") or {}).get("uid") != claim["metadata"]["uid"]
        ):
            return
        self._release(volume)

    def _release(self, volume: JSON) -> None:
        released = copy.deepcopy(volume)
        released["status"] = {"phase": "Released", "lastPhaseTransitionTime": rfc3339()}
        volume = self.store.update("persistentvolumes", released)
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy")
        if policy != "Delete":
            return
        annotations = volume["metadata"].get("annotations") or {}
        if annotations.get(PROVISIONED_BY) != PROVISIONER:
            failed = copy.deepcopy(volume)
            failed["status"] = {
                "phase": "Failed",
                "message": f'error getting deleter volume plugin for volume "{volume["metadata"]["name"]}": no '
                "deletable volume plugin matched",
                "lastPhaseTransitionTime": rfc3339(),
            }
            self.store.update("persistentvolumes", failed)
            self._event(failed, "Warning", "VolumeFailedDelete", failed["status"]["message"])
            return
        path = str(((volume.get("spec") or {}).get("hostPath") or {}).get("path") or "")
        if path.startswith(self.root + os.sep):
            shutil.rmtree(path, ignore_errors=True)
        self._remove_volume(volume)

    def _remove_volume(self, volume: JSON) -> None:
        finalizers = [f for f in volume["metadata"].get("finalizers") or [] if f != PV_PROTECTION]
        if finalizers:
            updated = copy.deepcopy(volume)
            updated["metadata"]["finalizers"] = finalizers
            updated["metadata"].setdefault("deletionTimestamp", rfc3339())
            self.store.update("persistentvolumes", updated)
            return
        self.store.delete("persistentvolumes", "", volume["metadata"]["name"])

    # ------------------------------------------------------------------------------------------ volumes

    def _volume_changed(self, change: Change) -> None:
        if change.type == "DELETED":
            for claim in self.store.list("persistentvolumeclaims"):
                if (claim.get("spec") or {}).get("volumeName") == change.obj["metadata"]["name"]:
                    self.sync_claim(claim)
            return
        volume = self.store.get("persistentvolumes", "", change.obj["metadata"]["name"])
        if volume is None or volume["metadata"]["uid"] != change.obj["metadata"]["uid"]:
            return
        meta = volume["metadata"]
        phase = (volume.get("status") or {}).get("phase")
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if meta.get("deletionTimestamp"):
            if phase != "Bound" and PV_PROTECTION in (meta.get("finalizers") or []):
                self._remove_volume(volume)
            elif not meta.get("finalizers"):
                self.store.delete("persistentvolumes", "", meta["name"])
            return
        if phase == "Pending" and not ref:
            available = copy.deepcopy(volume)
            available["status"] = {"phase": "Available", "lastPhaseTransitionTime": rfc3339()}
            self.store.update("persistentvolumes", available)
            for claim in self.store.list("persistentvolumeclaims"):
                if (claim.get("status") or {}).get("phase") == "Pending" and not claim["metadata"].get(
                    "deletionTimestamp"
                ):
                    self.sync_claim(claim)
            return
        if phase == "Pending" and ref and not ref.get("uid"):
            # Pre-bound by the user to a claim by name: bind when that claim exists.
            prebound = self.store.get(
                "persistentvolumeclaims", ref.get("namespace") or "", ref.get("name") or ""
            )
            if prebound is not None and (prebound.get("status") or {}).get("phase") == "Pending":
                self.bind(prebound, volume, claim_by_controller=True)
            else:
                available = copy.deepcopy(volume)
                available["status"] = {"phase": "Available", "lastPhaseTransitionTime": rfc3339()}
                self.store.update("persistentvolumes", available)
            return
        if phase == "Bound" and ref.get("uid"):
            owner = self.store.get(
                "persistentvolumeclaims", ref.get("namespace") or "", ref.get("name") or ""
            )
            if owner is None or owner["metadata"]["uid"] != ref["uid"]:
                self._release(volume)

    # --------------------------------------------------------------------------------------- protection

    def _pod_changed(self, change: Change) -> None:
        pod = change.obj
        namespace = pod["metadata"].get("namespace", "")
        if change.type == "ADDED":
            self._create_ephemeral_claims(pod)
            return
        if change.type == "DELETED":
            # The garbage collector: claims of generic ephemeral volumes go with their pod.
            for owned in self.store.list("persistentvolumeclaims", namespace):
                owners = owned["metadata"].get("ownerReferences") or []
                if any(o.get("uid") == pod["metadata"].get("uid") for o in owners):
                    self._delete_claim(owned)
        for name in claim_names(pod):
            claim = self.store.get("persistentvolumeclaims", namespace, name)
            if claim is not None and claim["metadata"].get("deletionTimestamp"):
                self._finish_claim_deletion(claim)

    def _create_ephemeral_claims(self, pod: JSON) -> None:
        """The ephemeral volume controller: one claim per generic ephemeral volume, owned by the pod."""
        meta = pod["metadata"]
        current = self.store.get("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            template = (volume.get("ephemeral") or {}).get("volumeClaimTemplate")
            if not isinstance(template, dict):
                continue
            name = f"{meta['name']}-{volume['name']}"
            if self.store.get("persistentvolumeclaims", meta["namespace"], name) is not None:
                continue  # not ours (the pod will say so) or already created
            template_meta = template.get("metadata") or {}
            claim: JSON = {
                "kind": "PersistentVolumeClaim",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "uid": new_uid(),
                    "creationTimestamp": rfc3339(),
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Pod",
                            "name": meta["name"],
                            "uid": meta["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            for key in ("labels", "annotations"):
                if template_meta.get(key):
                    claim["metadata"][key] = dict(template_meta[key])
            admit_claim(claim, self.store.list("storageclasses"))
            self.store.create("persistentvolumeclaims", claim)

    def _delete_claim(self, claim: JSON) -> None:
        if not claim["metadata"].get("deletionTimestamp"):
            updated = copy.deepcopy(claim)
            updated["metadata"]["deletionTimestamp"] = rfc3339()
            updated["metadata"]["deletionGracePeriodSeconds"] = 0
            claim = self.store.update("persistentvolumeclaims", updated)
        self._finish_claim_deletion(claim)

    def in_use(self, claim: JSON) -> bool:
        meta = claim["metadata"]
        for pod in self.store.list("pods", meta["namespace"]):
            if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
                continue
            if meta["name"] in claim_names(pod):
                return True
        return False

    def _finish_claim_deletion(self, claim: JSON) -> None:
        meta = claim["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if PVC_PROTECTION in finalizers:
            if self.in_use(claim):
                return
            updated = copy.deepcopy(claim)
            updated["metadata"]["finalizers"] = [f for f in finalizers if f != PVC_PROTECTION]
            claim = self.store.update("persistentvolumeclaims", updated)
        if not claim["metadata"].get("finalizers"):
            self.store.delete("persistentvolumeclaims", meta["namespace"], meta["name"])

    # ---------------------------------------------------------------------------------------- helpers

    def _claims_changed(self) -> None:
        """Pods waiting for claims get another scheduling attempt (after the current one finished)."""
        asyncio.get_running_loop().call_soon(self.on_claims_changed)

    @staticmethod
    def _claim_ref(claim: JSON) -> JSON:
        meta = claim["metadata"]
        return {
            "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion", ""),
        }

    @staticmethod
    def _claim_copy(claim: JSON) -> JSON:
        out = copy.deepcopy(claim)
        out.setdefault("spec", {})
        out.setdefault("status", {})
        return out

    def _update_claim(self, claim: JSON) -> JSON:
        current = self.store.get(
            "persistentvolumeclaims", claim["metadata"]["namespace"], claim["metadata"]["name"]
        )
        if current == claim:
            return current
        claim["kind"] = "PersistentVolumeClaim"
        claim["apiVersion"] = "v1"
        return self.store.update("persistentvolumeclaims", claim)
