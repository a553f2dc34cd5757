"""Which arguments a DAG author passed to the operator (only those change a pod built from a manifest)."""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_provider_k8spod.pod.spec import POD_ARGUMENTS

__all__ = [
    "SIDECAR_ARGUMENTS",
    "WITHOUT_EFFECT",
    "names_or_all",
    "record_passed_arguments",
    "warn_without_effect",
]

#: Arguments that shape the pod but are not :data:`POD_ARGUMENTS` of the pure builder.
SIDECAR_ARGUMENTS = (
    "xcom_sidecar_container_image",
    "xcom_sidecar_container_resources",
    "xcom_sidecar_container_security_context",
)

_F = TypeVar("_F", bound=Callable[..., Any])


def record_passed_arguments(init: _F) -> _F:
    """Remember which keyword arguments reached ``__init__`` with a value other than None.

    ``BaseOperator``'s metaclass hands ``__init__`` the explicit keyword arguments plus the applicable
    ``default_args``; a mapped task is created with its ``partial`` and ``expand`` values. Those are the
    arguments "the user passed". A subclass calling ``super().__init__(...)`` adds to the same set.
    """

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        passed = set(getattr(self, "_k8spod_passed", ()))
        passed |= {k for k, v in kwargs.items() if v is not None}
        object.__setattr__(self, "_k8spod_passed", frozenset(passed))
        # Values of the arguments that were not passed, to notice a subclass that sets them afterwards.
        tracked = (POD_ARGUMENTS | set(SIDECAR_ARGUMENTS)) - passed
        defaults = {name: _snapshot(getattr(self, name, None)) for name in tracked}
        object.__setattr__(self, "_k8spod_unpassed_values", defaults)

    return wrapper  # type: ignore[return-value]


def _snapshot(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # pragma: no cover - values that cannot be copied are compared by identity
        return value


def names_or_all(value: Any) -> tuple[str, ...] | bool:
    if value is True:
        return True
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


#: Upstream arguments that have no effect here, and why (docs/operator.md lists them too).
WITHOUT_EFFECT = {
    "base_container_status_polling_interval": "the end of the main container is observed through a watch "
    "of the pod, never by polling",
    "logging_interval": "logs are streamed live in both modes; no worker is resumed to print them",
    "progress_callback": (
        "upstream stores this argument and never calls it; to see each log line, define progress_callback "
        "on a callback class passed in callbacks"
    ),
    "trigger_kwargs": "the trigger is built from the operator's own arguments (see docs/deferrable.md)",
}


def warn_without_effect(**arguments: tuple[Any, Any]) -> None:
    """Warn (once per DAG file line) about each upstream argument passed that has no effect here."""
    for name, (value, default) in arguments.items():
        if value != default:
            warnings.warn(
                f"{name} has no effect with airflow-provider-k8spod: {WITHOUT_EFFECT[name]}",
                UserWarning,
                stacklevel=4,
            )
