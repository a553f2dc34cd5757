"""Configuration of a local cluster: fake nodes, declared images, kubelet timings.

These dataclasses are used by :class:`~airflow_provider_k8spod.testing.LocalCluster` and by the
``serve --config FILE`` CLI option (the file holds :meth:`ClusterConfig.to_json` as JSON or YAML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from airflow_provider_k8spod.testing._util import JSON

Isolation = Literal["auto", "namespaces", "process"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


@dataclass(frozen=True)
class Taint:
    """A node taint, e.g. ``Taint("dedicated", "gpu", "NoSchedule")``."""

    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

    def to_json(self) -> JSON:
        out: JSON = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Taint:
        return cls(str(data["key"]), str(data.get("value") or ""), data.get("effect") or "NoSchedule")


@dataclass(frozen=True)
class Node:
    """A fake node. Pods are scheduled on nodes by nodeSelector, node affinity and taints/tolerations.

    All nodes run their pods on this machine; ``labels`` and ``taints`` only steer scheduling.
    ``kubernetes.io/hostname``, ``kubernetes.io/os`` and ``kubernetes.io/arch`` labels are added.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    unschedulable: bool = False
    capacity: Mapping[str, str] = field(default_factory=lambda: {"cpu": "2", "memory": "8Gi", "pods": "1000"})

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "taints": [t.to_json() for t in self.taints],
            "unschedulable": self.unschedulable,
            "capacity": dict(self.capacity),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Node:
        taints = tuple(t if isinstance(t, Taint) else Taint.from_json(t) for t in data.get("taints") or ())
        kwargs: dict[str, Any] = {}
        if data.get("capacity"):
            kwargs["capacity"] = dict(data["capacity"])
        return cls(
            name=str(data["name"]),
            labels=dict(data.get("labels") or {}),
            taints=taints,
            unschedulable=bool(data.get("unschedulable", False)),
            **kwargs,
        )


@dataclass(frozen=True)
class Image:
    """What the kubelet knows about an image reference.

    ``name`` is matched after normalisation, so ``busybox``, ``busybox:latest`` and
    ``docker.io/library/busybox:latest`` are the same image.

    - ``entrypoint`` / ``cmd`` / ``env`` / ``working_dir``: the image config used for containers that do
      not set ``command`` / ``args`` (Kubernetes rules: command replaces ENTRYPOINT, args replace CMD).
    - ``missing=True``: pulls fail (ErrImagePull, then ImagePullBackOff) forever.
    - ``pull_failures=N``: the first N pulls fail with a rate-limit error, then the pull succeeds.
    - ``pull_seconds``: simulated pull time (applies when the kubelet pulls: policy Always, or first use
      with IfNotPresent).
    """

    name: str
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    missing: bool = False
    pull_failures: int = 0
    pull_seconds: float = 0.0

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "env": dict(self.env),
            "working_dir": self.working_dir,
            "missing": self.missing,
            "pull_failures": self.pull_failures,
            "pull_seconds": self.pull_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Image:
        return cls(
            name=str(data["name"]),
            entrypoint=tuple(data.get("entrypoint") or ()),
            cmd=tuple(data.get("cmd") or ()),
            env=dict(data.get("env") or {}),
            working_dir=str(data.get("working_dir") or ""),
            missing=bool(data.get("missing", False)),
            pull_failures=int(data.get("pull_failures") or 0),
            pull_seconds=float(data.get("pull_seconds") or 0.0),
        )


@dataclass(frozen=True)
class Timings:
    """Kubelet and API server timings. Defaults are short so tests stay fast; :meth:`realistic` gives
    the values of a stock cluster."""

    image_pull_backoff_initial: float = 1.0
    image_pull_backoff_max: float = 5.0
    crash_loop_backoff_initial: float = 1.0
    crash_loop_backoff_max: float = 5.0
    config_retry_seconds: float = 0.5
    bookmark_interval_seconds: float = 1.0
    default_watch_timeout_seconds: float = 1800.0
    mount_backoff_initial: float = 0.5
    mount_backoff_max: float = 4.0
    pod_sync_retry_seconds: float = 1.0
    # kube-controller-manager --node-monitor-grace-period: a silent node turns Ready=Unknown after this.
    node_monitor_grace_seconds: float = 2.0
    # kube-apiserver --default-{not-ready,unreachable}-toleration-seconds: the tolerationSeconds the
    # DefaultTolerationSeconds admission gives pods, so how long a pod stays on a lost node (whole seconds).
    default_not_ready_toleration_seconds: float = 300.0
    default_unreachable_toleration_seconds: float = 300.0

    @classmethod
    def realistic(cls) -> Timings:
        return cls(
            image_pull_backoff_initial=10.0,
            image_pull_backoff_max=300.0,
            crash_loop_backoff_initial=10.0,
            crash_loop_backoff_max=300.0,
            config_retry_seconds=10.0,
            bookmark_interval_seconds=60.0,
            mount_backoff_initial=0.5,
            mount_backoff_max=122.0,
            pod_sync_retry_seconds=10.0,
            node_monitor_grace_seconds=50.0,
        )

    def to_json(self) -> JSON:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Timings:
        known = {k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


DEFAULT_NODE = Node("node-1")


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the server needs besides its port and paths."""

    nodes: Sequence[Node] = (DEFAULT_NODE,)
    images: Sequence[Image] = ()
    unknown_images: Literal["present", "missing"] = "present"
    namespaces: Sequence[str] = ("default",)
    timings: Timings = field(default_factory=Timings)
    watch_history: int = 1000
    isolation: Isolation = "auto"
    python: str = ""
    user: str = "local-admin"

    def to_json(self) -> JSON:
        return {
            "nodes": [n.to_json() for n in self.nodes],
            "images": [i.to_json() for i in self.images],
            "unknown_images": self.unknown_images,
            "namespaces": list(self.namespaces),
            "timings": self.timings.to_json(),
            "watch_history": self.watch_history,
            "isolation": self.isolation,
            "python": self.python,
            "user": self.user,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterConfig:
        nodes = tuple(Node.from_json(n) for n in data.get("nodes") or ()) or (DEFAULT_NODE,)
        unknown = data.get("unknown_images") or "present"
        isolation = data.get("isolation") or "auto"
        if unknown not in ("present", "missing"):
            raise ValueError(f"unknown_images must be 'present' or 'missing', not {unknown!r}")
        if isolation not in ("auto", "namespaces", "process"):
            raise ValueError(f"isolation must be 'auto', 'namespaces' or 'process', not {isolation!r}")
        return cls(
            nodes=nodes,
            images=tuple(Image.from_json(i) for i in data.get("images") or ()),
            unknown_images=cast(Literal["present", "missing"], unknown),
            namespaces=tuple(data.get("namespaces") or ("default",)),
            timings=Timings.from_json(data.get("timings") or {}),
            watch_history=int(data.get("watch_history") or 1000),
            isolation=cast(Isolation, isolation),
            python=str(data.get("python") or ""),
            user=str(data.get("user") or "local-admin"),
        )
