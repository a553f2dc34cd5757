"""The status shape of a pod: what of its status a user (or our status module) can rely on, with names, times,
ids, addresses and counts taken out, so that a pod captured from the local cluster and a real cluster's pod in
the same situation can be compared.

``shape(pod, ...)`` returns one comparable value per aspect:

- ``phase``: the phase, the pod's reason and message;
- ``conditions``: each condition type with its status, reason and message;
- ``status_keys``: the fields present in ``status``;
- ``containers``: each container's state (kind, reason, message, exit code class, the fields present in it),
  last state, ready, started, whether it was restarted;
- ``container_keys``: the fields present in each container status (``volumeMounts`` included, with the
  fields of each mount).

Fields that exist only from some Kubernetes version on are compared only when both sides are at least that
version (the local cluster claims ``LOCAL_VERSION``); fields newer than that are left out on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

LOCAL_VERSION = (1, 32)  # what the local cluster's /version says
ASPECTS = ("phase", "conditions", "status_keys", "containers", "container_keys")

# Fields (of status, of a container status, and condition types) with the Kubernetes version that
# reports them by default.
SINCE: dict[str, tuple[int, int]] = {
    # status
    "hostIPs": (1, 28),
    "observedGeneration": (1, 34),
    "resize": (1, 33),
    "resourceClaimStatuses": (1, 28),
    "extendedResourceClaimStatus": (1, 34),
    # container status
    "started": (1, 16),
    "initStarted": (1, 28),  # `started` of init container statuses (SidecarContainers)
    "volumeMounts": (1, 31),  # RecursiveReadOnlyMounts, beta (on) in 1.31
    "allocatedResources": (1, 33),  # InPlacePodVerticalScaling, beta in 1.33
    "resources": (1, 33),
    "user": (1, 33),  # SupplementalGroupsPolicy, beta in 1.33
    "allocatedResourcesStatus": (1, 33),
    "stopSignal": (1, 34),
    # condition types
    "PodReadyToStartContainers": (1, 29),
    "DisruptionTarget": (1, 26),
}


def comparable(field: str, real_version: tuple[int, int] | None) -> bool:
    """Whether ``field`` is compared between the local cluster and a real cluster of ``real_version``."""
    since = SINCE.get(field)
    if since is None:
        return True
    if since > LOCAL_VERSION:
        return False
    return real_version is not None and real_version >= since


_QUOTED = re.compile(r'"[^"]*"')
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_HEX = re.compile(r"\b(?:sha256:)?[0-9a-f]{12,}\b")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h)(?:\d+(?:\.\d+)?(?:ms|s|m))*\b")
_QUANTITY = re.compile(r"\b\d+(?:\.\d+)?(?:Ki|Mi|Gi|Ti|k|M|G|m)?\b")
_SCHEDULER = re.compile(r"(\d+/\d+ nodes are available): [^.]*\.")


def normalize(text: Any, names: Mapping[str, str]) -> str:
    """``text`` with the given names replaced (longest first) and quoted strings, ids, addresses, durations
    and numbers reduced to placeholders."""
    if text is None:
        return ""
    value = str(text)
    for old in sorted(names, key=len, reverse=True):
        if old:  # whole names only: "running" is not replaced inside "init-running"
            value = re.sub(
                rf"(?<![A-Za-z0-9-]){re.escape(old)}(?![A-Za-z0-9-])", lambda _, new=names[old]: new, value
            )
    value = _SCHEDULER.sub(r"\1: <reasons>.", value)
    value = _QUOTED.sub('"<q>"', value)
    value = _UUID.sub("<uid>", value)
    value = _HEX.sub("<id>", value)
    value = _IP.sub("<ip>", value)
    value = _DURATION.sub("<t>", value)
    value = _QUANTITY.sub("<n>", value)
    return re.sub(r"\s+", " ", value).lstrip()  # a trailing space is part of some kubelet messages


def exit_class(code: Any) -> str | None:
    if code is None:
        return None
    code = int(code)
    # 128: the runtime could not start it; 137/143: SIGKILL/SIGTERM; any other is the program's own choice.
    return str(code) if code in (0, 128, 137, 143) else "nonzero"


OWN_MESSAGE = "<the program's own text>"


def _state(
    state: Mapping[str, Any] | None, names: Mapping[str, str], keys: bool, own_message: bool = False
) -> dict[str, Any]:
    for kind in ("terminated", "running", "waiting"):
        body = (state or {}).get(kind)
        if body is not None:
            message = normalize(body.get("message"), names) or None
            if own_message and kind == "terminated" and message:
                # A termination message is what the program wrote: only its presence counts.
                message = OWN_MESSAGE
            out: dict[str, Any] = {
                "kind": kind,
                "reason": body.get("reason"),
                "message": message,
                "exit": exit_class(body.get("exitCode")),
            }
            if kind == "terminated" and "startedAt" in body:
                # A container the runtime could not start reports the Unix epoch as its start.
                out["never_started"] = str(body.get("startedAt") or "").startswith("1970-01-01")
            if keys:
                out["keys"] = sorted(body)
            return out
    return {"kind": None}


def _mounts(mounts: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return sorted(
        (str(m.get("mountPath")), str(m.get("readOnly", False)), str(m.get("recursiveReadOnly")), *sorted(m))
        for m in mounts
    )


def shape(
    pod: Mapping[str, Any],
    *,
    containers: Mapping[str, str],
    names: Mapping[str, str],
    real_version: tuple[int, int] | None,
    keys: bool = True,
    state_only: Collection[str] = (),
    from_last: bool = False,
    own_messages: Collection[str] = (),
) -> dict[str, Any]:
    """The status shape of ``pod``. ``containers`` maps its container names to the roles they are compared
    under (containers not listed are left out); ``names`` are the strings to replace in messages (its pod
    name, namespace, uid, node...); ``real_version`` the version of the real cluster this is compared with;
    ``keys`` False when the pod is an excerpt whose fields cannot be taken as all there were; ``state_only``
    the roles of which only one termination is compared: the state, or with ``from_last`` the last state (a
    real pod that restarted the container where ours did not); ``own_messages`` the roles whose termination
    message is the program's own text (a termination log, the tail of its log), compared only for presence."""
    status = pod.get("status") or {}
    names = {**names, **containers}
    result: dict[str, Any] = {
        "phase": {
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": normalize(status.get("message"), names) or None,
        },
        "conditions": {
            c["type"]: (c.get("status"), c.get("reason"), normalize(c.get("message"), names) or None)
            for c in status.get("conditions") or []
            if comparable(c["type"], real_version)
        },
        "status_keys": sorted(k for k in status if comparable(k, real_version)),
    }
    found: dict[str, Any] = {}
    found_keys: dict[str, Any] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(key) or []:
            role = containers.get(item.get("name"))
            if role is None:
                continue
            started_field = "started" if key == "containerStatuses" else "initStarted"
            own = role in own_messages
            found[role] = {
                "list": key,
                "state": _state(item.get("state"), names, keys, own),
                "last": _state(item.get("lastState"), names, keys, own),
                "ready": item.get("ready"),
                "started": item.get("started") if comparable(started_field, real_version) else None,
                "restarted": bool(item.get("restartCount")) if "restartCount" in item else None,
                "imageID": bool(item.get("imageID")) if "imageID" in item else None,
                "containerID": "containerID" in item if keys else None,
            }
            if role in state_only:
                source = item.get("lastState") if from_last else item.get("state")
                found[role] = {"list": key, "state": _state(source, names, keys, own)}
            found_keys[role] = {
                "keys": sorted(k for k in item if comparable(k, real_version)),
                "volumeMounts": _mounts(item.get("volumeMounts") or [])
                if comparable("volumeMounts", real_version)
                else None,
            }
    result["containers"] = found
    result["container_keys"] = found_keys
    return result


def _masked(ours: Any, real: Any) -> Any:
    """``ours`` reduced to what ``real`` shows (an excerpt): keys it lacks or leaves None are dropped."""
    if isinstance(ours, dict) and isinstance(real, dict):
        return {k: _masked(ours.get(k), v) for k, v in real.items() if v is not None}
    return ours


def differences(
    ours: Mapping[str, Any], real: Mapping[str, Any], aspects: Iterable[str], *, partial: bool = False
) -> list[str]:
    """Where the two shapes differ, one line each (empty when they match). ``partial``: the real pod is an
    excerpt, so only what it shows is compared."""
    out: list[str] = []
    for aspect in aspects:
        a, b = ours.get(aspect), real.get(aspect)
        if partial:
            a, b = _masked(a, b), _masked(b, b)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    out.append(f"{aspect}.{key}: ours {a.get(key)!r} != real {b.get(key)!r}")
        else:
            out.append(f"{aspect}: ours {a!r} != real {b!r}")
    return out
