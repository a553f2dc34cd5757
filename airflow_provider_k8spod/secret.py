"""A Kubernetes Secret to expose to the main container, as upstream's ``Secret`` class does.

``Secret("env", "DB_PASSWORD", "db-credentials", "password")`` becomes an environment variable read from one
key of the Secret; ``Secret("env", None, "db-credentials")`` exposes every key as an environment variable
(``envFrom``); ``Secret("volume", "/etc/db", "db-credentials")`` mounts the Secret read-only at ``/etc/db``
(``items`` selects keys and their file names).

Objects of upstream's ``airflow.providers.cncf.kubernetes.secret.Secret`` are accepted by the operator too
(read through the same attributes), so DAGs migrate without touching their secrets.

Unlike upstream, the volume name is derived from the Secret and the target (not random), so building the
same task twice gives the same pod.
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_provider_k8spod.exceptions import PodSpecError

__all__ = ["Secret"]


class Secret:
    """A Secret exposed as environment variables or files.

    :param deploy_type: ``"env"`` or ``"volume"``.
    :param deploy_target: the environment variable name (upper-cased, as upstream does) for ``env``, or the
        mount path for ``volume``; ``None`` with ``env`` and no ``key`` exposes all keys.
    :param secret: name of the Kubernetes Secret.
    :param key: the key of the Secret for one environment variable.
    :param items: for ``volume``: ``V1KeyToPath`` models or ``{"key": ..., "path": ...}`` dicts.
    """

    def __init__(
        self,
        deploy_type: str,
        deploy_target: str | None,
        secret: str,
        key: str | None = None,
        items: list[Any] | None = None,
    ) -> None:
        if deploy_type not in ("env", "volume"):
            raise PodSpecError(f"Secret deploy_type: expected 'env' or 'volume', got {deploy_type!r}")
        if key is not None and deploy_target is None:
            raise PodSpecError(f"Secret {secret!r}: a key needs a deploy_target (the variable name)")
        if deploy_type == "volume" and not deploy_target:
            raise PodSpecError(f"Secret {secret!r}: deploy_type 'volume' needs deploy_target (a mount path)")
        self.deploy_type = deploy_type
        self.deploy_target = (
            deploy_target.upper() if deploy_type == "env" and deploy_target else deploy_target
        )
        self.secret = secret
        self.key = key
        self.items = list(items or [])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and _fields(self) == _fields(other)

    def __hash__(self) -> int:
        return hash((self.deploy_type, self.deploy_target, self.secret, self.key))

    def __repr__(self) -> str:
        return f"Secret({self.deploy_type!r}, {self.deploy_target!r}, {self.secret!r}, {self.key!r})"


def _fields(secret: Any) -> tuple[Any, ...]:
    return (secret.deploy_type, secret.deploy_target, secret.secret, secret.key, secret.items)


def secret_pod_parts(secret: Any, path: str) -> dict[str, Any]:
    """What one secret (ours or upstream's, duck-typed) adds to the pod, as canonical dicts.

    Returns a dict with some of the keys ``env`` (one env var), ``envFrom`` (one source), ``volume`` and
    ``volumeMount``.
    """
    from airflow_provider_k8spod.pod.normalize import to_api

    try:
        deploy_type = secret.deploy_type
        target = secret.deploy_target
        name = secret.secret
        key = getattr(secret, "key", None)
        items = getattr(secret, "items", None) or []
    except AttributeError:
        raise PodSpecError(
            f"{path}: expected a Secret (deploy_type, deploy_target, secret, key), got {secret!r}"
        ) from None
    if not isinstance(name, str) or not name:
        raise PodSpecError(f"{path}.secret: expected the name of a Kubernetes Secret, got {name!r}")
    if deploy_type == "env" and key is not None:
        return {"env": {"name": target, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}}
    if deploy_type == "env":
        return {"envFrom": {"secretRef": {"name": name}}}
    if deploy_type == "volume":
        digest = hashlib.sha256(f"{name}\x00{target}".encode()).hexdigest()[:10]
        volume_name = f"secretvol-{digest}"
        source: dict[str, Any] = {"secretName": name}
        if items:
            source["items"] = to_api(list(items), "List[V1KeyToPath]", f"{path}.items")
        return {
            "volume": {"name": volume_name, "secret": source},
            "volumeMount": {"name": volume_name, "mountPath": target, "readOnly": True},
        }
    raise PodSpecError(f"{path}.deploy_type: expected 'env' or 'volume', got {deploy_type!r}")
