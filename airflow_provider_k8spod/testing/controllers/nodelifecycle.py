"""kube-controller-manager's node lifecycle and taint eviction controllers, for nodes that stop responding.

What a real cluster does when a node's kubelet goes silent (Kubernetes >= 1.29):

1. Nothing, for ``--node-monitor-grace-period`` (50 s): the pods' status stays as last reported (Running,
   Ready).
2. The node lifecycle controller sets the node's Ready, MemoryPressure, DiskPressure and PIDPressure
   conditions to Unknown (``NodeStatusUnknown``, "Kubelet stopped posting node status."), records a
   ``NodeNotReady`` event for the node, taints it ``node.kubernetes.io/unreachable`` (NoSchedule and
   NoExecute), and sets the Ready condition of each of its pods to False with a Warning ``NodeNotReady``
   event ("Node is not ready"). The phase stays Running.
3. The taint eviction controller deletes each pod once it has tolerated the NoExecute taint for its
   ``tolerationSeconds`` (300 s from the DefaultTolerationSeconds admission; at once if it does not
   tolerate the taint, never if it tolerates it forever): a ``TaintManagerEviction`` event ("Marking for
   deletion Pod ns/name"), a ``DisruptionTarget`` condition (``DeletionByTaintManager``), then a graceful
   delete. With no kubelet to confirm it, the pod stays Terminating until the node returns.
4. A node that comes back before that cancels the pending evictions ("Cancelling deletion of Pod ...").

When no node of the zone is Ready (here: every node is lost, e.g. the only node of a one-node cluster),
the controller assumes the problem is its own ("full disruption"): it adds no NoExecute taint and evicts
nothing, so the pods stay (not Ready) until their node returns.

The decisions are pure functions; :class:`NodeLifecycle` drives them with timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.testing._util import JSON, rfc3339
from airflow_provider_k8spod.testing.controllers.scheduler import tolerates

if TYPE_CHECKING:
    from airflow_provider_k8spod.testing.server import ClusterServer

NODE_CONTROLLER = "node-controller"
TAINT_EVICTION_CONTROLLER = "taint-eviction-controller"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
DISRUPTION = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByTaintManager",
    "message": "Taint manager: deleting due to NoExecute taint",
}


def eviction_delay(
    tolerations: Sequence[Mapping[str, Any]], taints: Sequence[Mapping[str, Any]]
) -> float | None:
    """Seconds until the taint eviction controller deletes a pod with ``tolerations`` from a node with
    ``taints``: 0 when a NoExecute taint is not tolerated, None when every one is tolerated forever,
    else the smallest ``tolerationSeconds`` of the tolerations used (getMinTolerationTime)."""
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    used = []
    for taint in no_execute:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return 0.0
        used.append(match)
    seconds = [t["tolerationSeconds"] for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return max(0.0, float(min(int(s) for s in seconds)))


def unreachable_node(node: JSON, now: str, *, no_execute: bool = True) -> JSON:
    """The node as the node lifecycle controller leaves it once its grace period is over (``no_execute``:
    with the NoExecute taint too, i.e. not in full disruption)."""
    updated = copy.deepcopy(node)
    status = updated.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    for ctype in NOT_READY_CONDITIONS:
        cond = next((c for c in conditions if c.get("type") == ctype), None)
        if cond is None:
            conditions.append(
                {
                    "type": ctype,
                    "status": "Unknown",
                    "lastHeartbeatTime": updated["metadata"].get("creationTimestamp"),
                    "lastTransitionTime": now,
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                }
            )
        elif cond.get("status") != "Unknown":
            cond.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=now,
            )
    spec = updated.setdefault("spec", {})
    taints = [t for t in spec.get("taints") or [] if t.get("key") != UNREACHABLE]
    taints.append({"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now})
    if no_execute:
        taints.append({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now})
    spec["taints"] = taints
    return updated


def pod_not_ready(pod: JSON, now: str) -> JSON | None:
    """The pod with its Ready condition False (MarkPodsNotReady), or None if it has none or it is False
    already. ContainersReady and the phase are left as the kubelet last reported them."""
    updated = copy.deepcopy(pod)
    for cond in (updated.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "False":
                return None
            cond["status"] = "False"
            cond["lastTransitionTime"] = now
            return updated
    return None


class NodeLifecycle:
    """Timers of the two controllers for the nodes the harness loses (``LocalCluster.lose_node``)."""

    def __init__(self, srv: ClusterServer) -> None:
        self.srv = srv
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._evictions: dict[str, asyncio.Task[None]] = {}  # pod uid -> pending eviction

    def node_lost(self, name: str) -> None:
        self._cancel_monitor(name)
        task = asyncio.ensure_future(self._after_grace(name))
        self._monitors[name] = task
        self.srv.background.add(task)
        task.add_done_callback(self.srv.background.discard)

    def node_restored(self, name: str) -> None:
        """The kubelet posts status again: pending evictions of its pods are cancelled."""
        self._cancel_monitor(name)
        self._cancel_evictions(name)

    def _cancel_evictions(self, name: str) -> None:
        for pod in self._pods_on(name):
            task = self._evictions.pop(pod["metadata"]["uid"], None)
            if task is not None and not task.done():
                task.cancel()
                self._event(
                    pod,
                    "TaintManagerEviction",
                    f"Cancelling deletion of Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}",
                )

    def stop(self) -> None:
        for task in [*self._monitors.values(), *self._evictions.values()]:
            task.cancel()

    # ----------------------------------------------------------------------------------------- internals

    def _cancel_monitor(self, name: str) -> None:
        task = self._monitors.pop(name, None)
        if task is not None and not task.done():
            task.cancel()

    def _pods_on(self, node: str) -> list[JSON]:
        return [p for p in self.srv.store.list("pods") if (p.get("spec") or {}).get("nodeName") == node]

    def _event(self, pod: JSON, reason: str, message: str, event_type: str = "Normal") -> None:
        component = TAINT_EVICTION_CONTROLLER if reason == "TaintManagerEviction" else NODE_CONTROLLER
        self.srv.recorder.controller(pod, event_type, reason, message, component)

    async def _after_grace(self, name: str) -> None:
        await asyncio.sleep(self.srv.config.timings.node_monitor_grace_seconds)
        if name not in self.srv.kubelet.lost_nodes:
            return
        node = self.srv.store.get("nodes", "", name)
        if node is None:
            return
        now = rfc3339()
        lost = self.srv.kubelet.lost_nodes
        full_disruption = all(n["metadata"]["name"] in lost for n in self.srv.store.list("nodes"))
        node = self.srv.store.update("nodes", unreachable_node(node, now, no_execute=not full_disruption))
        if full_disruption:
            # Entering full disruption: the NoExecute taints go from every node, their evictions stop.
            for other in self.srv.store.list("nodes"):
                taints = (other.get("spec") or {}).get("taints") or []
                kept = [
                    t for t in taints if not (t.get("key") == UNREACHABLE and t.get("effect") == "NoExecute")
                ]
                if kept != taints:
                    other = copy.deepcopy(other)
                    other["spec"]["taints"] = kept
                    self.srv.store.update("nodes", other)
                self._cancel_evictions(other["metadata"]["name"])
        self.srv.recorder.controller(
            node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady", NODE_CONTROLLER
        )
        taints = (node.get("spec") or {}).get("taints") or []
        for pod in self._pods_on(name):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            updated = pod_not_ready(pod, now)
            if updated is not None:
                pod = self.srv.store.update("pods", updated)
                self._event(pod, "NodeNotReady", "Node is not ready", "Warning")
            delay = eviction_delay((pod.get("spec") or {}).get("tolerations") or [], taints)
            if delay is not None and not pod["metadata"].get("deletionTimestamp"):
                task = asyncio.ensure_future(self._evict_after(pod["metadata"]["uid"], pod, delay))
                self._evictions[pod["metadata"]["uid"]] = task
                self.srv.background.add(task)
                task.add_done_callback(self.srv.background.discard)

    async def _evict_after(self, uid: str, pod: JSON, delay: float) -> None:
        await asyncio.sleep(delay)
        self._evictions.pop(uid, None)
        meta = pod["metadata"]
        current = self.srv.store.get("pods", meta["namespace"], meta["name"])
        if current is None or current["metadata"]["uid"] != uid:
            return
        self._event(
            current, "TaintManagerEviction", f"Marking for deletion Pod {meta['namespace']}/{meta['name']}"
        )
        with contextlib.suppress(KeyError):
            current = self.srv.add_condition(current, dict(DISRUPTION))
        self.srv.delete_pod(current, None)
