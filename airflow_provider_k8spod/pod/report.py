"""The pod report: where a task's pod ran, what it ran, how long it waited and ran, and what it reserved.

One pure function, :func:`pod_report`, builds it from the pod's last state (and the time it is built at, for
a pod that has not ended); both drivers log it the same way at the end of the task (see docs/operator.md,
"Pod report"). Nothing here does I/O.

What each figure means, read from the pod as the API server returns it:

- **node**: ``spec.nodeName``.
- **pending**: from ``metadata.creationTimestamp`` to the first container start the pod records
  (``startedAt`` of any container's state or last state, init containers included); a pod that never
  started is pending up to ``now``. ``scheduled after``: to the ``PodScheduled`` condition's transition.
- **running**: from that first start to the last ``finishedAt`` once no container runs; to ``now`` while
  one still does. The pod keeps only the last two runs of a restarted container, so after restarts the
  first start it records may be later than the real one.
- **containers**: exit code (or state), restarts, and ``imageID``: the digest the node actually ran.
- **resources**: the pod's effective request, as the scheduler counts it (the sum of the containers and
  native sidecars, or the largest init container if larger, plus ``spec.overhead``); a container without a
  request for a resource counts its limit (Kubernetes defaults the request to the limit: the API server
  stores it so, which the report says as "requests, equal to limits"). Multiplied by the running time:
  CPU-seconds and GiB-seconds.

A pod that ran and was deleted between two reads leaves no state that shows it: then its Events (they
outlive it) give the node (the kubelet's ``source.host``) and the first start (the ``Started`` event), and
the report says its running time is unknown rather than "never scheduled" or "never ran".
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_k8spod.pod.status import event_about, event_time
from airflow_provider_k8spod.pod.validation import parse_quantity

__all__ = ["ContainerReport", "PodReport", "pod_report"]

_GIB = 2**30


@dataclass(frozen=True)
class ContainerReport:
    """One container of the pod, as it ended (or stands)."""

    name: str
    init: bool
    #: ``imageID``: the image digest actually run (empty when the container never started).
    image_id: str
    restarts: int
    #: The exit code of its last run, or None while it runs, waits or never started.
    exit_code: int | None
    #: ``Completed``/``Error``/``OOMKilled``... (terminated), ``running``, or ``waiting: <reason>``.
    state: str
    #: The exit code of the run before the last (after a restart), or None.
    previous_exit_code: int | None = None

    def render(self) -> str:
        kind = " (init)" if self.init else ""
        state = self.state if self.exit_code is None else f"exit code {self.exit_code} ({self.state})"
        restarts = f"{self.restarts} restart{'' if self.restarts == 1 else 's'}"
        if self.previous_exit_code is not None:
            restarts += f" (previous exit code {self.previous_exit_code})"
        return f"{self.name}{kind}: {state}, {restarts}, image {self.image_id or '(none: never started)'}"


@dataclass(frozen=True)
class PodReport:
    """What :func:`pod_report` found; :meth:`render` is the block logged at the end of the task."""

    pod: str
    node: str | None
    #: Seconds from creation to the first container start (or to the report, if none started).
    pending: float | None
    #: Seconds from creation to scheduling.
    scheduled_after: float | None
    #: Seconds from the first container start to the last finish (or to the report, if one still runs).
    running: float | None
    #: A container still ran when the report was made (``running`` is measured up to then).
    still_running: bool
    containers: tuple[ContainerReport, ...] = field(default_factory=tuple)
    #: The pod's effective CPU request (cores) and memory request (bytes), or None if none is set.
    cpu: float | None = None
    memory: float | None = None
    #: Where those come from: ``requests``, ``requests, equal to limits`` (as the API server stores a
    #: container that set only limits), ``limits`` (only limits set), ``requests and limits`` (some
    #: containers only set limits), or None (no requests or limits).
    basis: str | None = None
    #: No state read showed a container start, but the kubelet's Started event did (the pod ran and went
    #: between two reads): ``running`` is unknown.
    ran_unseen: bool = False

    @property
    def cpu_seconds(self) -> float | None:
        if self.cpu is None or self.running is None:
            return None
        return self.cpu * self.running

    @property
    def gib_seconds(self) -> float | None:
        if self.memory is None or self.running is None:
            return None
        return self.memory / _GIB * self.running

    def render(self) -> str:
        """The compact block for the task log."""
        where = f"on node {self.node}" if self.node else "never scheduled"
        lines = [f"Pod report: {self.pod} {where}"]
        times = [f"pending {_duration(self.pending)}"]
        if self.scheduled_after is not None:
            times[0] += f" (scheduled after {_duration(self.scheduled_after)})"
        if self.running is not None:
            times.append(
                f"running {_duration(self.running)}" + (" (still running)" if self.still_running else "")
            )
        elif self.ran_unseen:
            times.append("ran (its Started event says so; no state read showed it: running time unknown)")
        else:
            times.append("never ran")
        lines.append("  " + ", ".join(times))
        lines.extend(f"  {c.render()}" for c in self.containers)
        if self.basis is None:
            lines.append("  resources: no requests or limits set")
        else:
            requested = [f"{_number(self.cpu or 0.0)} CPU", f"{_number((self.memory or 0.0) / _GIB)} GiB"]
            line = f"  resources ({self.basis}): {', '.join(requested)}"
            if self.running is not None:
                line += (
                    f" x {_duration(self.running)} = {_number(self.cpu_seconds or 0.0)} CPU-seconds, "
                    f"{_number(self.gib_seconds or 0.0)} GiB-seconds"
                )
            lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible (the trigger's event carries it)."""
        data = asdict(self)
        data["containers"] = [asdict(c) for c in self.containers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PodReport:
        values = dict(data)
        values["containers"] = tuple(ContainerReport(**c) for c in values.get("containers") or ())
        return cls(**values)


def pod_report(pod: Mapping[str, Any], *, now: float, events: Iterable[Mapping[str, Any]] = ()) -> PodReport:
    """The report of ``pod`` (its last state); ``now`` (``time.time()`` seconds) ends what has not ended.
    ``events`` (the pod's Events) fill in what a last state read too early does not show."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    created = _time(meta.get("creationTimestamp"))
    scheduled = next(
        (
            _time(c.get("lastTransitionTime"))
            for c in status.get("conditions") or ()
            if c.get("type") == "PodScheduled" and c.get("status") == "True"
        ),
        None,
    )
    statuses = [(s, True) for s in status.get("initContainerStatuses") or ()]
    statuses += [(s, False) for s in status.get("containerStatuses") or ()]
    starts: list[float] = []
    ends: list[float] = []
    still_running = False
    containers = []
    for item, init in statuses:
        state = item.get("state") or {}
        last = (item.get("lastState") or {}).get("terminated") or {}
        for run in (state.get("running") or {}, state.get("terminated") or {}, last):
            if (start := _time(run.get("startedAt"))) is not None:
                starts.append(start)
        if "running" in state:
            still_running = True
        elif (end := _time((state.get("terminated") or {}).get("finishedAt"))) is not None:
            ends.append(end)
        containers.append(_container(item, init))
    first_start = min(starts) if starts else None
    own = [e for e in events if event_about(e, meta.get("uid"))]
    event_start = None
    if first_start is None:
        event_start = min(
            (t for e in own if e.get("reason") == "Started" and (t := event_time(e, first=True))),
            default=None,
        )
    pending = _between(created, first_start if first_start is not None else (event_start or now))
    running = None
    if first_start is not None:
        end = now if still_running or not ends else max(ends)
        running = max(0.0, end - first_start)
    cpu, memory, basis = _effective_requests(spec)
    namespace = meta.get("namespace")
    return PodReport(
        pod=f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name")),
        node=spec.get("nodeName") or _kubelet_host(own),
        pending=pending,
        scheduled_after=_between(created, scheduled),
        running=running,
        still_running=still_running and first_start is not None,
        containers=tuple(containers),
        cpu=cpu,
        memory=memory,
        basis=basis,
        ran_unseen=event_start is not None,
    )


def _kubelet_host(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The node whose kubelet reported on the pod (``source.host``; ``reportingInstance`` in newer ones)."""
    for event in events:
        source = event.get("source") or {}
        if (source.get("component") or event.get("reportingComponent")) == "kubelet":
            host = source.get("host") or event.get("reportingInstance")
            if host:
                return str(host)
    return None


def _container(item: Mapping[str, Any], init: bool) -> ContainerReport:
    state = item.get("state") or {}
    terminated = state.get("terminated")
    previous = (item.get("lastState") or {}).get("terminated") or {}
    if terminated is not None:
        exit_code = terminated.get("exitCode")
        text = str(terminated.get("reason") or ("Completed" if exit_code == 0 else "Error"))
    elif "running" in state:
        exit_code, text = None, "running"
    else:
        exit_code = None
        reason = (state.get("waiting") or {}).get("reason")
        text = f"waiting: {reason}" if reason else "not started"
    return ContainerReport(
        name=str(item.get("name")),
        init=init,
        image_id=str(item.get("imageID") or ""),
        restarts=int(item.get("restartCount") or 0),
        exit_code=int(exit_code) if exit_code is not None else None,
        state=text,
        previous_exit_code=int(previous["exitCode"]) if previous.get("exitCode") is not None else None,
    )


def _effective_requests(spec: Mapping[str, Any]) -> tuple[float | None, float | None, str | None]:
    """The pod's effective CPU (cores) and memory (bytes) request, and where they come from."""
    sources: set[str] = set()
    values: dict[str, float | None] = {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    plain_init = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") != "Always"]
    for resource in ("cpu", "memory"):
        running = [_request(c, resource, sources) for c in [*(spec.get("containers") or ()), *sidecars]]
        init = [_request(c, resource, sources) for c in plain_init]
        overhead = _quantity((spec.get("overhead") or {}).get(resource))
        found = [v for v in [*running, *init, overhead] if v is not None]
        if not found:
            values[resource] = None
            continue
        total = max(_sum(running), max((v for v in init if v is not None), default=Decimal(0)))
        values[resource] = float(total + (overhead or 0))
        if overhead is not None:
            sources.update({"requests", "requests below limits"})  # the runtime class's overhead
    return values["cpu"], values["memory"], _basis(sources)


def _basis(sources: set[str]) -> str | None:
    """Say where the figures come from. The API server copies a limit into a missing request, so a pod it
    returns has requests wherever limits are set: "equal to limits" tells the user it is their limits."""
    if not sources:
        return None
    if "limits" in sources:
        return "requests and limits" if "requests" in sources else "limits"
    return "requests" if "requests below limits" in sources else "requests, equal to limits"


def _request(container: Mapping[str, Any], resource: str, sources: set[str]) -> Decimal | None:
    resources = container.get("resources") or {}
    request = _quantity((resources.get("requests") or {}).get(resource))
    limit = _quantity((resources.get("limits") or {}).get(resource))
    if request is not None:
        sources.add("requests")
        if request != limit:
            sources.add("requests below limits")
        return request
    if limit is not None:
        sources.add("limits")
    return limit


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


def _quantity(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def _time(value: Any) -> float | None:
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, end - start)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = round(seconds)
    if total < 60:
        return f"{seconds:.0f}s" if seconds >= 1 or seconds == 0 else f"{seconds:.1f}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def _number(value: float) -> str:
    """A figure with about three significant digits, without a needless exponent."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
