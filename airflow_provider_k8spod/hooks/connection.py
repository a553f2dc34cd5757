"""Read an Airflow connection into validated :class:`ConnectionSettings`.

The connection type of this provider is ``k8spod``, but any connection id can be read: the extras of the
upstream ``kubernetes`` connection type are accepted unchanged, with or without their legacy
``extra__kubernetes__`` prefix, so an existing ``kubernetes_default`` connection works as it is.

A connection made in the UI without any kubeconfig is supported too: API server URL in ``host``, bearer
token in ``password`` and the cluster's CA certificate in the ``ca_cert`` extra.

Everything here is pure apart from :func:`load_connection_settings` / :func:`aload_connection_settings`,
which fetch the connection from Airflow.
"""

from __future__ import annotations

import difflib
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from airflow_provider_k8spod.exceptions import ConnectionConfigError
from airflow_provider_k8spod.hooks.fields import (
    DEFAULT_CONN_ID,
    EXTRA_FIELDS,
    LEGACY_PREFIXES,
    XCOM_TRANSPORTS,
)

log = logging.getLogger(__name__)

#: Unknown extras at least this similar to a known one are taken for a typo, which is an error.
_TYPO_CUTOFF = 0.85


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    """What a connection says about how to reach a cluster; every field is optional.

    ``kube_config`` and ``token`` are secrets and never appear in ``repr``.
    """

    conn_id: str | None = None
    in_cluster: bool | None = None
    kube_config_path: str | None = None
    kube_config: str | None = None
    cluster_context: str | None = None
    namespace: str | None = None
    host: str | None = None
    token: str | None = None
    ca_cert: str | None = None
    disable_verify_ssl: bool | None = None
    disable_tcp_keepalive: bool | None = None
    xcom_sidecar_container_image: str | None = None
    xcom_sidecar_container_resources: dict[str, Any] | None = None
    xcom_sidecar_container_security_context: dict[str, Any] | None = None
    xcom_transport: str | None = None
    #: Extras that were neither known nor a likely typo; kept so callers can report them.
    ignored_extras: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name in ("kube_config", "token"):
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"ConnectionSettings({', '.join(shown)})"

    @property
    def sources(self) -> list[str]:
        """The mutually exclusive ways of reaching a cluster that this connection sets."""
        found = []
        if self.in_cluster:
            found.append("in_cluster")
        if self.kube_config_path:
            found.append("kube_config_path")
        if self.kube_config:
            found.append("kube_config")
        if self.host:
            found.append("host")
        return found


def _where(conn_id: str | None, name: str) -> str:
    return f"connection {conn_id!r}, field {name!r}" if conn_id else f"field {name!r}"


def _parse_bool(conn_id: str | None, name: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ConnectionConfigError(f"{_where(conn_id, name)}: expected true or false, got {value!r}")


def _parse_json_object(conn_id: str | None, name: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(
                f"{_where(conn_id, name)}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    if not isinstance(value, dict):
        raise ConnectionConfigError(f"{_where(conn_id, name)}: expected a JSON object, got {value!r}")
    return value


def _parse_str(conn_id: str | None, name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConnectionConfigError(f"{_where(conn_id, name)}: expected a string, got {type(value).__name__}")
    return value


def _parse_kube_config(conn_id: str | None, value: Any) -> str | None:
    """``kube_config`` may be YAML/JSON text or, from a JSON connection, an already parsed object."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        return json.dumps(value)
    return _parse_str(conn_id, "kube_config", value)


def _strip_prefix(key: str) -> str:
    for prefix in LEGACY_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def closest_name(name: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str | None:
    """The most similar of ``choices`` to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def settings_from_connection_fields(
    conn_id: str | None,
    *,
    host: str | None = None,
    password: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ConnectionSettings:
    """Validate a connection's fields and extras into :class:`ConnectionSettings` (pure).

    Raises :class:`ConnectionConfigError` naming the connection and the field for a bad value, for an
    extra that looks like a misspelt known field, and when two ways of reaching a cluster are set.
    Other unknown extras are reported by a warning that names the closest known field.
    """
    values: dict[str, Any] = {}
    ignored: list[str] = []
    for raw_key, value in (extra or {}).items():
        key = _strip_prefix(raw_key)
        if key not in EXTRA_FIELDS:
            suggestion = closest_name(key, tuple(EXTRA_FIELDS), cutoff=_TYPO_CUTOFF)
            if suggestion or key != raw_key:
                hint = f"; did you mean {suggestion!r}?" if suggestion else ""
                raise ConnectionConfigError(
                    f"connection {conn_id!r}: unknown extra field {raw_key!r}{hint} "
                    f"Known fields: {', '.join(sorted(EXTRA_FIELDS))}"
                )
            ignored.append(raw_key)
            continue
        # The unprefixed key wins over a legacy prefixed duplicate, as in the upstream hook.
        if key in values and raw_key != key:
            continue
        values[key] = value

    for key in ignored:
        near = closest_name(key, tuple(EXTRA_FIELDS))
        near_text = f" (closest known field: {near!r})" if near else ""
        message = (
            f"Connection {conn_id!r}: ignoring unknown extra field {key!r}{near_text}. "
            f"Known fields: {', '.join(sorted(EXTRA_FIELDS))}"
        )
        warnings.warn(message, UserWarning, stacklevel=3)
        log.warning("%s", message)

    parsed: dict[str, Any] = {}
    for key, value in values.items():
        kind = EXTRA_FIELDS[key][0]
        if key == "kube_config":
            parsed[key] = _parse_kube_config(conn_id, value)
        elif kind == "bool":
            parsed[key] = _parse_bool(conn_id, key, value)
        elif kind == "json":
            parsed[key] = _parse_json_object(conn_id, key, value)
        else:
            parsed[key] = _parse_str(conn_id, key, value)

    settings = ConnectionSettings(
        conn_id=conn_id,
        host=_parse_str(conn_id, "host", host),
        token=_parse_str(conn_id, "password", password),
        ignored_extras=tuple(ignored),
        **parsed,
    )
    if settings.token and not settings.host:
        raise ConnectionConfigError(
            f"connection {conn_id!r}, field 'password': a bearer token needs the API server URL in 'host'"
        )
    if settings.ca_cert and not settings.host:
        raise ConnectionConfigError(
            f"connection {conn_id!r}, field 'ca_cert': a CA certificate needs the API server URL in 'host'"
        )
    if settings.xcom_transport is not None and settings.xcom_transport not in XCOM_TRANSPORTS:
        raise ConnectionConfigError(
            f"connection {conn_id!r}, field 'xcom_transport': {settings.xcom_transport!r} is not a transport; "
            f"use one of {', '.join(repr(t) for t in XCOM_TRANSPORTS)}"
        )
    if len(settings.sources) > 1:
        raise ConnectionConfigError(
            f"connection {conn_id!r}: fields {', '.join(repr(s) for s in settings.sources)} each select a "
            "cluster; set only one of them"
        )
    return settings


def _settings_from_connection_object(conn: Any) -> ConnectionSettings:
    # Parse ``extra`` ourselves: the SDK's ``extra_dejson`` logs and returns {} for text that is not JSON,
    # which would silently select another cluster.
    extra: Any = {}
    if conn.extra:
        try:
            extra = json.loads(conn.extra)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(
                f"connection {conn.conn_id!r}, field 'extra': not valid JSON ({exc.msg}, position {exc.pos})"
            ) from None
        if not isinstance(extra, dict):
            raise ConnectionConfigError(f"connection {conn.conn_id!r}, field 'extra': expected a JSON object")
    return settings_from_connection_fields(
        conn.conn_id, host=conn.host or None, password=conn.password or None, extra=extra
    )


def load_connection_settings(conn_id: str | None) -> ConnectionSettings:
    """Fetch ``conn_id`` from Airflow and validate it.

    ``None`` means no connection. A missing ``kubernetes_default`` also means no connection (so the
    hook falls back to in-cluster or the local kubeconfig); any other missing connection id is an error.
    """
    if conn_id is None:
        return ConnectionSettings()
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        return _missing(conn_id, exc)
    return _settings_from_connection_object(conn)


async def aload_connection_settings(conn_id: str | None) -> ConnectionSettings:
    """Async twin of :func:`load_connection_settings`, for the triggerer's event loop."""
    if conn_id is None:
        return ConnectionSettings()
    import asyncio

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await aget(conn_id)
        else:  # pragma: no cover - Airflow versions without the async lookup
            conn = await asyncio.to_thread(BaseHook.get_connection, conn_id)
    except AirflowNotFoundException as exc:
        return _missing(conn_id, exc)
    return _settings_from_connection_object(conn)


def _missing(conn_id: str, exc: BaseException) -> ConnectionSettings:
    if conn_id == DEFAULT_CONN_ID:
        log.debug("Connection %r is not defined; using in-cluster or local kubeconfig", conn_id)
        return ConnectionSettings()
    raise ConnectionConfigError(f"connection {conn_id!r} is not defined") from exc
