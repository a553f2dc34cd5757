"""``authorization.k8s.io/v1`` reviews: Self/Local/SubjectAccessReview and SelfSubjectRulesReview (what
``kubectl auth can-i`` and ``kubectl auth can-i --list`` create), answered by the same authorizer as every
request; and ``authentication.k8s.io/v1`` SelfSubjectReview (``kubectl auth whoami``).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver import errors
from airflow_provider_k8spod.testing.apiserver.objects import api_version_of, kind_of
from airflow_provider_k8spod.testing.apiserver.rbac import (
    Attributes,
    Policy,
    UserInfo,
    authorize,
    rules_review,
)
from airflow_provider_k8spod.testing.apiserver.validation import invalid_value

GROUP = "authorization.k8s.io"


def _attributes(user: UserInfo, spec: JSON, kind: str) -> Attributes:
    resource: JSON = spec.get("resourceAttributes") or {}
    non_resource: JSON = spec.get("nonResourceAttributes") or {}
    if bool(resource) == bool(non_resource):
        detail = (
            "cannot be specified in combination with resourceAttributes"
            if resource
            else "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        )
        path = "spec.nonResourceAttributes" if resource else "spec.resourceAttributes"
        raise errors.invalid(kind, "", [invalid_value(path, non_resource or None, detail)], GROUP)
    if non_resource:
        return Attributes(
            user,
            str(non_resource.get("verb", "")),
            resource_request=False,
            path=str(non_resource.get("path", "")),
        )
    return Attributes(
        user,
        str(resource.get("verb", "")),
        namespace=str(resource.get("namespace", "")),
        api_group=str(resource.get("group", "")),
        resource=str(resource.get("resource", "")),
        subresource=str(resource.get("subresource", "")),
        name=str(resource.get("name", "")),
    )


def review(policy: Policy, user: UserInfo, namespace: str | None, resource: str, body: Any) -> JSON:
    """The created review object, with its ``status`` filled in."""
    kind = kind_of(resource)
    if not isinstance(body, dict):
        raise errors.bad_request(f'{kind} in version "v1" cannot be handled as a {kind}')
    if body.get("kind") and body["kind"] != kind:
        raise errors.bad_request(
            f'{body["kind"]} in version "v1" cannot be handled as a {kind}: no kind "{body["kind"]}" is '
            f'registered for version "{GROUP}/v1"'
        )
    spec = dict(body.get("spec") or {})
    metadata = dict(body.get("metadata") or {})
    metadata.setdefault("creationTimestamp", None)
    if resource == "selfsubjectreviews":
        return {
            "kind": kind,
            "apiVersion": api_version_of(resource),
            "metadata": metadata,
            "status": {"userInfo": user.to_json()},
        }
    if resource == "selfsubjectrulesreviews":
        status = rules_review(policy, user, str(spec.get("namespace", "")))
    else:
        subject = user
        if resource in ("subjectaccessreviews", "localsubjectaccessreviews"):
            if not spec.get("user") and not spec.get("groups"):
                raise errors.invalid(
                    kind,
                    "",
                    group=GROUP,
                    causes=[
                        invalid_value("spec.user", "", "at least one of user or group must be specified")
                    ],
                )
            subject = UserInfo(
                str(spec.get("user", "")), tuple(spec.get("groups") or ()), str(spec.get("uid", ""))
            )
        attrs = _attributes(subject, spec, kind)
        if resource == "localsubjectaccessreviews":
            metadata.setdefault("namespace", namespace)
            if attrs.namespace != namespace:
                raise errors.invalid(
                    kind,
                    "",
                    group=GROUP,
                    causes=[
                        invalid_value(
                            "spec.resourceAttributes.namespace",
                            attrs.namespace,
                            "must match metadata.namespace",
                        )
                    ],
                )
        decision = authorize(policy, attrs)
        status = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
    return {
        "kind": kind,
        "apiVersion": api_version_of(resource),
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }
