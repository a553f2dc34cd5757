"""Field-by-field comparison of two pods (canonical JSON) and the allowlist of deliberate differences.

:func:`flatten` turns a pod into ``{path: value}``: objects by key, lists of named things (containers,
init containers, volumes, env, volume mounts, image pull secrets) by their name with a ``#order`` entry
for their order, other lists by position. :func:`differences` lists the paths whose values differ
(``None`` = absent). :data:`ALLOWLIST` holds every deliberate difference, each with its reason;
docs/migrating.md prints it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_KEYED = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """``{path: leaf}``; empty lists and objects are leaves (``[]`` / ``{}``), so their presence counts."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        field = path.rsplit(".", 1)[-1]
        key = _KEYED.get(field)
        if key and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in value):
            out[f"{path}#order"] = [i[key] for i in value]
            for item in value:
                out.update(flatten(item, f"{path}[{item[key]}]"))
            return out
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    out[path] = value
    return out


@dataclass(frozen=True)
class Difference:
    path: str
    upstream: Any
    ours: Any

    def __str__(self) -> str:
        return f"{self.path}: upstream {self.upstream!r}, ours {self.ours!r}"


def _present(flat: dict[str, Any], path: str) -> bool:
    return any(k.startswith((f"{path}.", f"{path}[", f"{path}#")) for k in flat)


def differences(upstream: dict[str, Any], ours: dict[str, Any]) -> list[Difference]:
    """Every path whose value differs. An empty list or object on one side and a filled one on the other
    is no difference of presence, only of the values under it (reported on their own paths)."""
    a, b = flatten(upstream), flatten(ours)
    found = []
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if x == y:
            continue
        if (x in ([], {}) and y is None and _present(b, path)) or (
            y in ([], {}) and x is None and _present(a, path)
        ):
            continue
        found.append(Difference(path, x, y))
    return found


Pod = dict[str, Any]
#: The pseudo path of a case that only one side could build; its values are BUILT or the error.
BUILD = "(build)"
BUILT = "builds the pod"
#: Cases whose input the API server would reject: ours fails them when building the pod. Named, so that an
#: error of ours on any other case is a failure, not an allowed difference.
INVALID_INPUT_CASES = frozenset({"labels_unsafe_value"})


@dataclass(frozen=True)
class Allowed:
    """A deliberate difference, with its reason (printed in docs/migrating.md).

    ``paths`` (a regex on the flattened path) and ``when`` (a further condition on the case, the
    difference and both pods) say which differences it covers; ``normalize``, when given, rewrites both
    pods before they are compared (for values that are random on upstream's side).
    """

    id: str
    summary: str
    reason: str
    paths: str = ""
    when: Callable[[str, Difference, Pod, Pod], bool] | None = None
    normalize: Callable[[Pod], Pod] | None = None

    def covers(self, case_id: str, difference: Difference, upstream: Pod, ours: Pod) -> bool:
        if not self.paths or not re.fullmatch(
            re.escape(BUILD) if self.paths == BUILD else self.paths, difference.path
        ):
            return False
        return self.when is None or self.when(case_id, difference, upstream, ours)


def _name_suffix(case_id: str, d: Difference, upstream: Pod, ours: Pod) -> bool:
    # <stem>-<8 random characters> (upstream) against <stem>-<10 characters of a hash> (ours); our stem is
    # cut to leave room for the longer suffix, so it may be a prefix of upstream's.
    a, b = str(d.upstream or ""), str(d.ours or "")
    up_stem, _, up_suffix = a.rpartition("-")
    our_stem, _, our_suffix = b.rpartition("-")
    return len(up_suffix) == 8 and len(our_suffix) == 10 and up_stem.startswith(our_stem) and bool(our_stem)


def _ours_only(case_id: str, d: Difference, upstream: Pod, ours: Pod) -> bool:
    return d.upstream is None


def _secret_volume_names(pod: Pod) -> Pod:
    """Name every secret volume after its secret (upstream's names are random UUIDs)."""
    spec = pod.get("spec") or {}
    renamed = {
        v["name"]: f"secretvol-{v['secret'].get('secretName')}"
        for v in spec.get("volumes") or []
        if isinstance(v, dict)
        and isinstance(v.get("secret"), dict)
        and str(v.get("name", "")).startswith("secretvol")
    }
    if not renamed:
        return pod
    for volume in spec.get("volumes") or []:
        volume["name"] = renamed.get(volume.get("name"), volume.get("name"))
    for container in spec.get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            mount["name"] = renamed.get(mount.get("name"), mount.get("name"))
    return pod


def _unrendered_in_upstream(case_id: str, d: Difference, upstream: Pod, ours: Pod) -> bool:
    if "{{" in d.path or "{{" in str(d.upstream):
        return True
    # The rendered item of a keyed list (e.g. volumeMounts[/data/x]) whose upstream item is unrendered.
    parent = d.path.rsplit("[", 1)[0]
    return "{{" in str(flatten(upstream).get(f"{parent}#order"))


def _explicit_false(case_id: str, d: Difference, upstream: Pod, ours: Pod) -> bool:
    return d.ours is False and d.upstream is True


def _main_container_kept(case_id: str, d: Difference, upstream: Pod, ours: Pod) -> bool:
    names = [[c.get("name") for c in (p.get("spec") or {}).get("containers") or []] for p in (upstream, ours)]
    return names[0] != names[1]


#: Every deliberate difference between the pod upstream's operator builds and ours, for the same arguments
#: and task context. docs/migrating.md prints this list (tests/compat/test_differential.py checks that).
ALLOWLIST: list[Allowed] = [
    Allowed(
        "name-suffix",
        "The pod name's suffix is derived from the task instance try (10 characters), not random (8).",
        "The same try always gets the same name, so a create that fails with AlreadyExists (a retried "
        "request, a restarted worker) adopts its own pod instead of starting a second one.",
        paths=r"metadata\.name",
        when=_name_suffix,
    ),
    Allowed(
        "annotations",
        "Our annotations: `app.kubernetes.io/managed-by`, the raw task identity under "
        "`airflow-provider-k8spod/`, and `kubectl.kubernetes.io/default-container`.",
        "Labels are exactly upstream's; what we need beyond them (which pods are ours, identity values that "
        "labels would truncate, which container is the main one) is in annotations, which nothing selects on.",
        paths=r"metadata\.annotations\.(app\.kubernetes\.io/managed-by|airflow-provider-k8spod/.*|"
        r"kubectl\.kubernetes\.io/default-container)",
        when=_ours_only,
    ),
    Allowed(
        "xcom-sidecar",
        "The XCom sidecar is hardened: a pinned small image, CPU and memory limits, a restricted security "
        "context (non-root, read-only root filesystem, no capabilities), a command that exits at once on "
        "TERM.",
        "It passes the Pod Security Standards 'restricted' profile and a LimitRange, where upstream's "
        "sidecar is rejected; the image, resources and security context can still be set as with upstream.",
        paths=r"spec\.containers\[airflow-xcom-sidecar\]\.(image|command\[\d+\]|resources\..*|securityContext\..*)",
    ),
    Allowed(
        "secret-volume-names",
        "The volumes `secrets=` adds are named `secretvol-<hash of secret and mount path>`, not "
        "`secretvol<random UUID>`.",
        "A pod built twice for the same try is the same pod (adoption compares them; diffs stay readable).",
        normalize=_secret_volume_names,
    ),
    Allowed(
        "templates-in-models",
        "Jinja templates in every field of a `kubernetes.client` model are rendered (e.g. a "
        "`V1VolumeMount`'s `mount_path`).",
        "Upstream renders a fixed list of fields of eight model types (a `V1VolumeMount`'s `name` and "
        "`sub_path`, not its `mount_path`) and sends other templates to the cluster as they are.",
        paths=r".*",
        when=_unrendered_in_upstream,
    ),
    Allowed(
        "invalid-before-creation",
        "A pod the API server would reject (e.g. a label value `a/b c`) is an error when the pod is built, "
        "naming the field, instead of a 422 from the cluster.",
        "The task fails before anything is created, with the field path and the rule, in `dry_run()` too.",
        paths=BUILD,
        when=lambda case_id, d, upstream, ours: (
            case_id in INVALID_INPUT_CASES and d.upstream == BUILT and str(d.ours).startswith("PodSpecError:")
        ),
    ),
    Allowed(
        "explicit-false-wins",
        "An argument passed as `False` (e.g. `hostnetwork=False`) overrides the manifest's `true`.",
        "Upstream lets any falsy argument lose to the manifest, so `False` cannot switch a manifest's "
        "setting off.",
        paths=r"spec\.hostNetwork|spec\.automountServiceAccountToken|spec\.containers\[[^]]+\]\.stdin",
        when=_explicit_false,
    ),
    Allowed(
        "lists-merge",
        "`tolerations`, `image_pull_secrets` and `host_aliases` given as arguments are added to the "
        "manifest's (merged by name, or IP for host aliases), not put in their place.",
        "Every list argument combines with the manifest's list the same way; upstream already extends "
        "volumes, volume mounts, env, env_from, ports and init containers but replaces these three.",
        paths=r"spec\.(tolerations|imagePullSecrets|hostAliases)(\[[^]]+\]\..*|#order)",
    ),
    Allowed(
        "main-container-by-name",
        "With a manifest, the main container is the one named `base_container_name` (default `base`), else "
        "the manifest's first container, which keeps its name.",
        "Upstream merges the operator's container into the manifest's first container by position and "
        "renames it, which breaks manifests whose containers refer to each other by name.",
        paths=r"spec\.containers(#order|\[[^]]+\]\..*)",
        when=_main_container_kept,
    ),
    Allowed(
        "deadline-from-execution-timeout",
        "A task with `execution_timeout` and no `active_deadline_seconds` (nor one in the manifest) gets "
        "`spec.activeDeadlineSeconds` = `execution_timeout` + 300 s.",
        "Kubernetes then stops the pod even if every Airflow process died; Airflow's own timeout still acts "
        'first (docs/operator.md, "A deadline Kubernetes enforces").',
        paths=r"spec\.activeDeadlineSeconds",
        when=lambda case_id, d, upstream, ours: d.upstream is None and isinstance(d.ours, int),
    ),
    Allowed(
        "unpassed-arguments",
        "An argument that was not passed changes nothing in the manifest: `termination_message_policy`'s "
        "default `File` does not override a manifest's `FallbackToLogsOnError`.",
        "Only what the user wrote overrides the manifest; upstream lets this one default win.",
        paths=r"spec\.containers\[[^]]+\]\.terminationMessagePolicy",
        when=lambda case_id, d, upstream, ours: d.upstream == "File" and d.ours is not None,
    ),
]


def compare_results(
    case_id: str, upstream: dict[str, Any], ours: dict[str, Any]
) -> tuple[list[Difference], dict[str, int]]:
    """Like :func:`compare` for two build results (``{"pod": ...}`` or ``{"error": ...}``): both failing
    is no difference; only one failing is the difference at :data:`BUILD`."""
    if "pod" in upstream and "pod" in ours:
        return compare(case_id, upstream["pod"], ours["pod"])
    used = {allowed.id: 0 for allowed in ALLOWLIST}
    if "pod" not in upstream and "pod" not in ours:
        return [], used
    difference = Difference(BUILD, upstream.get("error", BUILT), ours.get("error", BUILT))
    covering = next((a for a in ALLOWLIST if a.covers(case_id, difference, {}, {})), None)
    if covering is None:
        return [difference], used
    used[covering.id] += 1
    return [], used


def compare(case_id: str, upstream: Pod, ours: Pod) -> tuple[list[Difference], dict[str, int]]:
    """The differences no allowlist entry covers, and how many each entry covered."""
    import copy

    used = {allowed.id: 0 for allowed in ALLOWLIST}
    upstream, ours = copy.deepcopy(upstream), copy.deepcopy(ours)
    for allowed in ALLOWLIST:
        if allowed.normalize is not None:
            before = differences(upstream, ours)
            upstream, ours = allowed.normalize(upstream), allowed.normalize(ours)
            used[allowed.id] += len(before) - len(differences(upstream, ours))
    left = []
    for difference in differences(upstream, ours):
        covering = next((a for a in ALLOWLIST if a.covers(case_id, difference, upstream, ours)), None)
        if covering is None:
            left.append(difference)
        else:
            used[covering.id] += 1
    return left, used
