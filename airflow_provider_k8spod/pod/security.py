"""A small, pure checker for the Kubernetes Pod Security Standards "restricted" profile.

It follows the published profile (baseline controls plus the restricted ones) as the admission controller
applies it to a pod at creation, so a DAG author (and our tests) can see before creating a pod whether a
namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` would admit it. It does not replace
the admission controller; it explains its verdict ahead of time.

Public functions:

- :func:`restricted_profile_violations` ``(pod) -> list[str]``: empty when the pod passes; otherwise one
  line per violation naming the field path.
- :func:`hardening_gaps` ``(container) -> list[str]``: what the profile does not demand but this provider's
  sidecar does: a read-only root filesystem, and CPU and memory requests and limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["hardening_gaps", "restricted_profile_violations"]

_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
_RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(kind) or []):
            yield f"spec.{kind}[{i}]", container


def _selinux(path: str, options: Any) -> Iterator[str]:
    if not isinstance(options, dict):
        return
    if options.get("type", "") not in _SELINUX_TYPES:
        yield f"{path}.seLinuxOptions.type: {options['type']!r} is not allowed"
    for key in ("user", "role"):
        if options.get(key):
            yield f"{path}.seLinuxOptions.{key}: must not be set"


def restricted_profile_violations(pod: dict[str, Any]) -> list[str]:
    """Why ``pod`` (canonical dict) would be rejected under the "restricted" profile; empty if it passes."""
    spec = pod.get("spec") or {}
    pod_sc = spec.get("securityContext") or {}
    out: list[str] = []

    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"spec.{key}: must not be true")
    for i, volume in enumerate(spec.get("volumes") or []):
        kinds = set(volume) - {"name"}
        for kind in sorted(kinds - _RESTRICTED_VOLUME_TYPES):
            out.append(f"spec.volumes[{i}].{kind}: volume type {kind!r} is not allowed")
    for i, sysctl in enumerate(pod_sc.get("sysctls") or []):
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            out.append(f"spec.securityContext.sysctls[{i}]: sysctl {sysctl.get('name')!r} is not allowed")
    out += _selinux("spec.securityContext", pod_sc.get("seLinuxOptions"))
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append("spec.securityContext.appArmorProfile.type: must not be 'Unconfined'")
    if pod_sc.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser: must not be 0")
    if pod_sc.get("runAsNonRoot") is False:
        out.append("spec.securityContext.runAsNonRoot: must not be false")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
        out.append(f"spec.securityContext.seccompProfile.type: {pod_seccomp!r} is not allowed")

    for path, container in _containers(spec):
        sc = container.get("securityContext") or {}
        where = f"{path}.securityContext"
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{where}.windowsOptions.hostProcess: must not be true")
        if sc.get("privileged"):
            out.append(f"{where}.privileged: must not be true")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{where}.procMount: must be 'Default'")
        out += _selinux(where, sc.get("seLinuxOptions"))
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}.appArmorProfile.type: must not be 'Unconfined'")
        for j, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                out.append(f"{path}.ports[{j}].hostPort: must not be set")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}.allowPrivilegeEscalation: must be false")
        if sc.get("runAsNonRoot") is False:
            out.append(f"{where}.runAsNonRoot: must not be false")
        elif not sc.get("runAsNonRoot") and not pod_sc.get("runAsNonRoot"):
            out.append(f"{where}.runAsNonRoot: must be true (here or in spec.securityContext)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}.runAsUser: must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}.seccompProfile.type: {seccomp!r} is not allowed")
        elif seccomp is None and pod_seccomp is None:
            out.append(f"{where}.seccompProfile.type: must be RuntimeDefault or Localhost (here or pod-wide)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            out.append(f"{where}.capabilities.drop: must include 'ALL'")
        for cap in capabilities.get("add") or []:
            if cap != "NET_BIND_SERVICE":
                reason = "only NET_BIND_SERVICE may be added"
                if cap not in _BASELINE_CAPABILITIES:
                    reason += " (not even allowed by the baseline profile)"
                out.append(f"{where}.capabilities.add: {cap!r}: {reason}")
    return out


def hardening_gaps(container: dict[str, Any]) -> list[str]:
    """Hardening this provider applies to its own sidecar beyond the profile, that ``container`` lacks."""
    gaps = []
    if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
        gaps.append("securityContext.readOnlyRootFilesystem: not true")
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in (resources.get(kind) or {}):
                gaps.append(f"resources.{kind}.{resource}: not set")
    return gaps
