"""The authorizer: the ``system:masters`` group, then RBAC, evaluated as kube-apiserver's RBAC authorizer does.

Pure functions over a :class:`Policy` (the stored Roles, ClusterRoles and bindings). Rule matching follows
``k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac``: verbs, API groups and resources match exactly or by
``*``, a ``*/<subresource>`` resource matches that subresource of anything, ``resourceNames`` narrow a rule
to named objects (so they never allow ``create``, ``list`` or ``watch`` without a name), non-resource URLs
match exactly or by a trailing ``*``. ClusterRoleBindings apply everywhere, RoleBindings in their
namespace; a ServiceAccount subject without a namespace means the binding's namespace. A binding whose role
does not exist grants nothing and its error is appended to the denial (``RBAC: role... not found``), as
the real authorizer does.

The bootstrap policy seeded at start is the subset of the real one that concerns the resources this
cluster serves: ``cluster-admin`` (bound to ``system:masters``), ``admin``/``edit``/``view`` (aggregated
from ``system:aggregate-to-*``), ``system:basic-user``, ``system:discovery`` and
``system:public-info-viewer`` (bound to ``system:authenticated``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver.errors import Cause
from airflow_provider_k8spod.testing.apiserver.validation import invalid_value as invalid
from airflow_provider_k8spod.testing.apiserver.validation import (
    not_supported,
    required,
    validate_annotations,
    validate_labels,
)

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def to_json(self) -> JSON:
        out: JSON = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


def service_account_user(namespace: str, name: str, uid: str = "", extra: JSON | None = None) -> UserInfo:
    """The user a service-account token authenticates as."""
    return UserInfo(
        f"{SA_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
        extra or {},
    )


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (``authorizer.Attributes``)."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Policy:
    """Read access to the stored RBAC objects (a store, or plain lists in table tests)."""

    def __init__(
        self,
        lister: Callable[[str, str | None], list[JSON]],
        getter: Callable[[str, str, str], JSON | None] | None = None,
    ) -> None:
        self._list = lister
        self._get = getter

    def cluster_role_bindings(self) -> list[JSON]:
        return self._list("clusterrolebindings", None)

    def role_bindings(self, namespace: str) -> list[JSON]:
        return self._list("rolebindings", namespace)

    def role(self, namespace: str, name: str) -> JSON | None:
        if self._get is not None:
            return self._get("roles", namespace, name)
        return next((r for r in self._list("roles", namespace) if r["metadata"]["name"] == name), None)

    def cluster_role(self, name: str) -> JSON | None:
        if self._get is not None:
            return self._get("clusterroles", "", name)
        return next((r for r in self._list("clusterroles", None) if r["metadata"]["name"] == name), None)


# ------------------------------------------------------------------------------------------- matching


def _has(values: Iterable[str] | None, wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values or ())


def resource_matches(rule_resources: Iterable[str] | None, combined: str, subresource: str) -> bool:
    for resource in rule_resources or ():
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def non_resource_url_matches(urls: Iterable[str] | None, path: str) -> bool:
    for url in urls or ():
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Mapping[str, Any]) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule.get("nonResourceURLs"), attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("apiGroups"), attrs.api_group)
        and resource_matches(rule.get("resources"), combined, attrs.subresource)
        and (not names or attrs.name in names)
    )


def _subject_applies(user: UserInfo, subject: Mapping[str, Any], namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == f"{SA_PREFIX}{sa_namespace}:{name}"
    return False


def _describe_subject(subject: Mapping[str, Any], binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def _describe(binding: JSON, subject: Mapping[str, Any]) -> str:
    meta = binding["metadata"]
    ref = binding.get("roleRef") or {}
    namespace = meta.get("namespace") or ""
    if namespace:
        where = f'RoleBinding "{meta["name"]}/{namespace}"'
    else:
        where = f'ClusterRoleBinding "{meta["name"]}"'
    return (
        f'{where} of {ref.get("kind", "")} "{ref.get("name", "")}" to {_describe_subject(subject, namespace)}'
    )


def _role_rules(policy: Policy, ref: Mapping[str, Any], namespace: str) -> tuple[list[JSON], str | None]:
    kind, name = ref.get("kind"), str(ref.get("name", ""))
    if kind == "Role":
        role = policy.role(namespace, name)
        if role is None:
            return [], f'role.{GROUP} "{name}" not found'
    elif kind == "ClusterRole":
        role = policy.cluster_role(name)
        if role is None:
            return [], f'clusterrole.{GROUP} "{name}" not found'
    else:
        return [], f'unsupported role reference kind: "{kind}"'
    return list(role.get("rules") or []), None


def visit_rules(
    policy: Policy, user: UserInfo, namespace: str
) -> Iterable[tuple[str | None, JSON | None, str | None]]:
    """(source description, rule, error) for every rule that applies to ``user`` in ``namespace``, in the
    real resolver's order: ClusterRoleBindings, then the namespace's RoleBindings."""
    bindings = [(b, "") for b in policy.cluster_role_bindings()]
    if namespace:
        bindings += [(b, namespace) for b in policy.role_bindings(namespace)]
    for binding, ns in bindings:
        subject = next((s for s in binding.get("subjects") or [] if _subject_applies(user, s, ns)), None)
        if subject is None:
            continue
        rules, error = _role_rules(policy, binding.get("roleRef") or {}, ns)
        if error is not None:
            yield None, None, error
            continue
        source = _describe(binding, subject)
        for rule in rules:
            yield source, rule, None


def authorize(policy: Policy, attrs: Attributes) -> Decision:
    if MASTERS in attrs.user.groups:
        return Decision(True)
    errors: list[str] = []
    for source, rule, error in visit_rules(policy, attrs.user, attrs.namespace):
        if rule is not None and rule_allows(attrs, rule):
            return Decision(True, f"RBAC: allowed by {source}")
        if error is not None and error not in errors:
            errors.append(error)
    if not errors:
        return Decision(False)
    text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return Decision(False, f"RBAC: {text}")


def forbidden_message(attrs: Attributes, reason: str) -> tuple[str, JSON]:
    """(message, details) of the 403 the API server answers a denied request with."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"', {}
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    text = f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}"'
    text += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    if reason:
        text += f": {reason}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: JSON = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    details["kind"] = attrs.resource
    return f"{subject} is forbidden: {text}", details


def rules_review(policy: Policy, user: UserInfo, namespace: str) -> JSON:
    """``SelfSubjectRulesReview`` status: the rules that apply to ``user`` in ``namespace``."""
    if MASTERS in user.groups:
        resource_rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        non_resource = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}
    resource_rules, non_resource, errors = [], [], []
    for _, rule, error in visit_rules(policy, user, namespace):
        if error is not None:
            errors.append(error)
            continue
        assert rule is not None
        if rule.get("nonResourceURLs"):
            non_resource.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
        else:
            entry: JSON = {"verbs": rule.get("verbs") or []}
            for key in ("apiGroups", "resources", "resourceNames"):
                if rule.get(key):
                    entry[key] = rule[key]
            resource_rules.append(entry)
    status: JSON = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource,
        "incomplete": bool(errors),
    }
    if errors:
        status["evaluationError"] = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return status


# ------------------------------------------------------------------------------------------ aggregation


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def aggregated_rules(role: JSON, cluster_roles: Sequence[JSON]) -> list[JSON] | None:
    """The rules the ClusterRole aggregation controller writes into an aggregated ClusterRole (None when
    ``role`` has no ``aggregationRule``): the distinct rules of every other ClusterRole matching one of its
    selectors, in name order."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    selectors = rule.get("clusterRoleSelectors") or []
    out: list[JSON] = []
    name = role["metadata"]["name"]
    for other in sorted(cluster_roles, key=lambda r: str(r["metadata"]["name"])):
        if other["metadata"]["name"] == name:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(_selector_matches(s, labels) for s in selectors if isinstance(s, dict)):
            for item in other.get("rules") or []:
                if item not in out:
                    out.append(item)
    return out


# ------------------------------------------------------------------------------------------- validation


def _path_segment_errors(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _validate_meta(meta: Any) -> list[Cause]:
    if not isinstance(meta, dict):
        return [required("metadata")]
    causes: list[Cause] = []
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not generate:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif name:
        causes += [invalid("metadata.name", name, m) for m in _path_segment_errors(str(name))]
    causes += validate_labels(meta.get("labels"), "metadata.labels")
    causes += validate_annotations(meta.get("annotations"), "metadata.annotations")
    return causes


def _validate_rule(rule: Any, namespaced: bool, path: str) -> list[Cause]:
    if not isinstance(rule, dict):
        return [required(path)]
    causes: list[Cause] = []
    if not rule.get("verbs"):
        causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            causes.append(
                invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs")
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return causes
    if not rule.get("apiGroups"):
        causes.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        causes.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return causes


def validate_role(obj: JSON, namespaced: bool) -> list[Cause]:
    causes = _validate_meta(obj.get("metadata"))
    for i, rule in enumerate(obj.get("rules") or []):
        causes += _validate_rule(rule, namespaced, f"rules[{i}]")
    return causes


def default_binding(obj: JSON) -> None:
    """v1 defaulting: User and Group subjects get the RBAC API group."""
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", GROUP)


def validate_binding(obj: JSON, namespaced: bool) -> list[Cause]:
    causes = _validate_meta(obj.get("metadata"))
    ref = obj.get("roleRef")
    ref = ref if isinstance(ref, dict) else {}
    if ref.get("apiGroup", "") != GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind", "") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    else:
        causes += [invalid("roleRef.name", ref["name"], m) for m in _path_segment_errors(str(ref["name"]))]
    for i, subject in enumerate(obj.get("subjects") or []):
        path = f"subjects[{i}]"
        subject = subject if isinstance(subject, dict) else {}
        if not subject.get("name"):
            causes.append(required(f"{path}.name"))
        kind = subject.get("kind", "")
        if kind == "ServiceAccount":
            if subject.get("apiGroup"):
                causes.append(not_supported(f"{path}.apiGroup", subject["apiGroup"], [""]))
            if not namespaced and not subject.get("namespace"):
                causes.append(required(f"{path}.namespace"))
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != GROUP:
                causes.append(not_supported(f"{path}.apiGroup", subject.get("apiGroup", ""), [GROUP]))
        else:
            causes.append(not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return causes


def role_ref_text(ref: Any) -> str:
    ref = ref if isinstance(ref, dict) else {}
    return (
        f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
        f'Name:"{ref.get("name", "")}"}}'
    )


def role_ref_changed(old: JSON, new: JSON) -> list[Cause]:
    if (old.get("roleRef") or {}) == (new.get("roleRef") or {}):
        return []
    return [
        Cause(
            "FieldValueInvalid",
            f"Invalid value: {role_ref_text(new.get('roleRef'))}: cannot change roleRef",
            "roleRef",
        )
    ]


# ------------------------------------------------------------------------------------------- bootstrap

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> JSON:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def _cluster_role(name: str, rules: list[JSON], labels: JSON | None = None, aggregate: str = "") -> JSON:
    role: JSON = {
        "kind": "ClusterRole",
        "apiVersion": f"{GROUP}/v1",
        "metadata": {
            "name": name,
            "labels": {**_BOOTSTRAP_LABELS, **(labels or {})},
            "annotations": dict(_AUTOUPDATE),
        },
        "rules": rules,
    }
    if aggregate:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {f"{GROUP}/aggregate-to-{aggregate}": "true"}}]
        }
    return role


def _cluster_role_binding(name: str, role: str, groups: list[str]) -> JSON:
    return {
        "kind": "ClusterRoleBinding",
        "apiVersion": f"{GROUP}/v1",
        "metadata": {"name": name, "labels": dict(_BOOTSTRAP_LABELS), "annotations": dict(_AUTOUPDATE)},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "Group", "apiGroup": GROUP, "name": g} for g in groups],
    }


def bootstrap_policy() -> tuple[list[JSON], list[JSON]]:
    """(ClusterRoles, ClusterRoleBindings) of a fresh cluster, restricted to the API groups served here."""
    discovery_urls = [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
        "/version", "/version/",
    ]  # fmt: skip
    public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    view_rules = [
        _rule(
            _READ,
            [""],
            [
                "pods",
                "serviceaccounts",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        _rule(_READ, [""], ["events", "pods/status", "namespaces/status", "pods/log"]),
        _rule(_READ, [""], ["namespaces"]),
    ]
    edit_rules = [
        _rule(_READ, [""], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets"]),
        _rule(["impersonate"], [""], ["serviceaccounts"]),
        _rule(_WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
        _rule(["create"], [""], ["pods/eviction"]),
        _rule(_WRITE, [""], ["serviceaccounts", "persistentvolumeclaims", "configmaps", "secrets", "events"]),
        _rule(["create"], [""], ["serviceaccounts/token"]),
    ]
    admin_rules = [
        _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        _rule(_READ + _WRITE, [GROUP], ["roles", "rolebindings"]),
    ]
    roles = [
        _cluster_role(
            "cluster-admin",
            [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}],
        ),
        _cluster_role("admin", [], aggregate="admin"),
        _cluster_role("edit", [], {f"{GROUP}/aggregate-to-admin": "true"}, aggregate="edit"),
        _cluster_role(
            "view",
            [],
            {f"{GROUP}/aggregate-to-edit": "true"},
            aggregate="view",
        ),
        _cluster_role("system:aggregate-to-admin", admin_rules, {f"{GROUP}/aggregate-to-admin": "true"}),
        _cluster_role("system:aggregate-to-edit", edit_rules, {f"{GROUP}/aggregate-to-edit": "true"}),
        _cluster_role("system:aggregate-to-view", view_rules, {f"{GROUP}/aggregate-to-view": "true"}),
        _cluster_role(
            "system:basic-user",
            [
                _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
                _rule(
                    ["create"],
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
            ],
        ),
        _cluster_role("system:discovery", [{"verbs": ["get"], "nonResourceURLs": discovery_urls}]),
        _cluster_role("system:public-info-viewer", [{"verbs": ["get"], "nonResourceURLs": public_urls}]),
    ]
    bindings = [
        _cluster_role_binding("cluster-admin", "cluster-admin", [MASTERS]),
        _cluster_role_binding("system:basic-user", "system:basic-user", [AUTHENTICATED]),
        _cluster_role_binding("system:discovery", "system:discovery", [AUTHENTICATED]),
        _cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            [AUTHENTICATED, "system:unauthenticated"],
        ),
    ]
    return roles, bindings
