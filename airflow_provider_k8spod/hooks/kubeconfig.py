"""Parse, check and flatten kubeconfigs.

A kubeconfig that reaches :class:`~airflow_provider_k8spod.hooks.access.ClusterAccess` is *flattened*: it
holds exactly one context, its cluster and its user, and every file it referred to (CA certificate,
client certificate and key, token file) is inlined as data. Such a kubeconfig means the same thing on a
worker and on the triggerer, which may not have the files.

Everything here is pure except :func:`read_kubeconfig_file` and :func:`inline_files`, which read files.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_k8spod.exceptions import ConnectionConfigError

#: kubeconfig keys that name a file, and the key that carries the same content inline.
_FILE_KEYS_CLUSTER = {"certificate-authority": "certificate-authority-data"}
_FILE_KEYS_USER = {"client-certificate": "client-certificate-data", "client-key": "client-key-data"}

#: Values of a kubeconfig user that are secrets and must be masked in logs.
SECRET_USER_KEYS = ("token", "client-key-data", "password")
SECRET_OIDC_KEYS = ("id-token", "refresh-token", "client-secret")
_SENSITIVE_ENV = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$", re.IGNORECASE)


def _one_line_hint(content: Any) -> str:
    """A YAML kubeconfig pasted into a one-line input (the Airflow UI's masked field) loses its line breaks."""
    if isinstance(content, str) and "\n" not in content.strip() and not content.lstrip().startswith("{"):
        return " (the text is one line: YAML pasted into a one-line field loses its line breaks; paste JSON)"
    return ""


def parse_kubeconfig(content: str | Mapping[str, Any], *, origin: str) -> dict[str, Any]:
    """Parse kubeconfig YAML or JSON text (or an already parsed mapping) and check its shape.

    ``origin`` says where the content came from (``connection 'x', field 'kube_config'`` or a path) and
    starts every error message. The content itself never appears in a message.
    """
    if isinstance(content, Mapping):
        data: Any = copy.deepcopy(dict(content))
    else:
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConnectionConfigError(
                f"{origin}: kubeconfig does not parse{where}: {problem}{_one_line_hint(content)}"
            ) from None
    if not isinstance(data, dict):
        raise ConnectionConfigError(
            f"{origin}: kubeconfig must be a mapping, got {type(data).__name__}{_one_line_hint(content)}"
        )
    kind = data.get("kind", "Config")
    if kind != "Config":
        raise ConnectionConfigError(f"{origin}: kubeconfig has kind {kind!r}, expected 'Config'")
    for section in ("clusters", "users", "contexts"):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise ConnectionConfigError(f"{origin}: kubeconfig field {section!r} must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ConnectionConfigError(f"{origin}: kubeconfig {section}[{index}] has no name")
        data[section] = entries
    return data


def read_kubeconfig_file(path: str, *, origin: str | None = None) -> dict[str, Any]:
    """Read and parse one kubeconfig file; relative file references are resolved against its folder."""
    where = origin or f"kubeconfig file {path!r}"
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConnectionConfigError(f"{where}: file does not exist") from None
    except OSError as exc:
        raise ConnectionConfigError(f"{where}: cannot read the file ({exc.strerror})") from None
    config = parse_kubeconfig(text, origin=where)
    return absolutize_paths(config, base_dir=str(Path(path).expanduser().resolve().parent))


def _file_fields(config: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(mapping, key) of every kubeconfig field that names a file."""
    for cluster in config.get("clusters") or []:
        body = cluster.get("cluster") or {}
        for key in _FILE_KEYS_CLUSTER:
            yield body, key
    for user in config.get("users") or []:
        body = user.get("user") or {}
        for key in (*_FILE_KEYS_USER, "tokenFile"):
            yield body, key
        oidc = (body.get("auth-provider") or {}).get("config")
        if isinstance(oidc, dict):
            yield oidc, "idp-certificate-authority"


def absolutize_paths(config: Mapping[str, Any], *, base_dir: str) -> dict[str, Any]:
    """Make the file references of a kubeconfig absolute (relative ones are relative to its folder).

    Files are only read later, by :func:`inline_files`, for the one context that is used: like kubectl,
    a kubeconfig whose *other* contexts refer to missing files still works.
    """
    result = copy.deepcopy(dict(config))
    for body, key in _file_fields(result):
        value = body.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            body[key] = str(Path(base_dir) / value)
    return result


def merge_kubeconfigs(configs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge several kubeconfigs the way ``kubectl`` merges ``$KUBECONFIG``: the first occurrence wins."""
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    for config in configs:
        for section in ("clusters", "users", "contexts"):
            names = {entry["name"] for entry in merged[section]}
            merged[section].extend(e for e in config.get(section) or [] if e["name"] not in names)
        if not merged.get("current-context") and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    return merged


def _find(config: Mapping[str, Any], section: str, name: str) -> dict[str, Any] | None:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return dict(entry)
    return None


def flatten(config: Mapping[str, Any], context: str | None, *, origin: str) -> dict[str, Any]:
    """Keep only ``context`` (or the current context), its cluster and its user.

    Raises a :class:`ConnectionConfigError` naming ``origin`` and the field when the context does not exist
    or refers to a cluster or user that is not there.
    """
    names = [entry["name"] for entry in config.get("contexts") or []]
    chosen = context or config.get("current-context")
    if not chosen:
        if len(names) == 1:
            chosen = names[0]
        else:
            raise ConnectionConfigError(
                f"{origin}: kubeconfig has no current-context; choose one with 'cluster_context' "
                f"(contexts: {', '.join(names) or 'none'})"
            )
    ctx_entry = _find(config, "contexts", chosen)
    if ctx_entry is None:
        field = "cluster_context" if context else "current-context"
        raise ConnectionConfigError(
            f"{origin}: context {chosen!r} (from {field!r}) does not exist in the kubeconfig; "
            f"contexts: {', '.join(names) or 'none'}"
        )
    ctx = dict(ctx_entry.get("context") or {})
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    cluster = _find(config, "clusters", cluster_name) if cluster_name else None
    if cluster is None:
        raise ConnectionConfigError(
            f"{origin}: context {chosen!r} refers to cluster {cluster_name!r}, not found"
        )
    server = (cluster.get("cluster") or {}).get("server")
    if not server:
        raise ConnectionConfigError(f"{origin}: cluster {cluster_name!r} has no 'server'")
    user = _find(config, "users", user_name) if user_name else {"name": "", "user": {}}
    if user is None:
        raise ConnectionConfigError(f"{origin}: context {chosen!r} refers to user {user_name!r}, not found")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": chosen,
        "contexts": [{"name": chosen, "context": ctx}],
        "clusters": [cluster],
        "users": [user],
    }


def inline_files(config: Mapping[str, Any], *, base_dir: str | None, origin: str) -> dict[str, Any]:
    """Replace file references by their content (``*-data`` keys, ``tokenFile`` by ``token``)."""
    result = copy.deepcopy(dict(config))

    def read(path: str, what: str) -> bytes:
        full = Path(path).expanduser()
        if base_dir and not full.is_absolute():
            full = Path(base_dir) / full
        try:
            return full.read_bytes()
        except OSError as exc:
            raise ConnectionConfigError(
                f"{origin}: cannot read {what} file {path!r} ({exc.strerror})"
            ) from None

    for cluster in result.get("clusters") or []:
        body = cluster.get("cluster") or {}
        for file_key, data_key in _FILE_KEYS_CLUSTER.items():
            if body.get(file_key) and not body.get(data_key):
                body[data_key] = base64.b64encode(read(body[file_key], file_key)).decode()
            body.pop(file_key, None)
    for user in result.get("users") or []:
        body = user.get("user") or {}
        for file_key, data_key in _FILE_KEYS_USER.items():
            if body.get(file_key) and not body.get(data_key):
                body[data_key] = base64.b64encode(read(body[file_key], file_key)).decode()
            body.pop(file_key, None)
        if body.get("tokenFile") and not body.get("token"):
            body["token"] = read(body["tokenFile"], "tokenFile").decode().strip()
        body.pop("tokenFile", None)
        oidc = (body.get("auth-provider") or {}).get("config") or {}
        if oidc.get("idp-certificate-authority") and not oidc.get("idp-certificate-authority-data"):
            oidc["idp-certificate-authority-data"] = base64.b64encode(
                read(oidc["idp-certificate-authority"], "idp-certificate-authority")
            ).decode()
        oidc.pop("idp-certificate-authority", None)
    return result


def kubeconfig_from_host(
    host: str, *, token: str | None, ca_cert: str | None, insecure: bool, origin: str
) -> dict[str, Any]:
    """Build a flattened kubeconfig for a connection given as API server URL + bearer token + CA."""
    if not host.startswith(("https://", "http://")):
        raise ConnectionConfigError(f"{origin}, field 'host': expected an https:// URL, got {host!r}")
    cluster: dict[str, Any] = {"server": host.rstrip("/")}
    if ca_cert:
        text = ca_cert.strip()
        if not text.startswith("-----BEGIN"):
            try:
                text = base64.b64decode(text, validate=True).decode()
            except ValueError:
                raise ConnectionConfigError(
                    f"{origin}, field 'ca_cert': expected a PEM certificate or its base64"
                ) from None
        text = text.strip() + "\n"
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ConnectionConfigError(f"{origin}, field 'ca_cert': no PEM certificate found")
        cluster["certificate-authority-data"] = base64.b64encode(text.encode()).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "connection",
        "contexts": [{"name": "connection", "context": {"cluster": "connection", "user": "connection"}}],
        "clusters": [{"name": "connection", "cluster": cluster}],
        "users": [{"name": "connection", "user": user}],
    }


def default_kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[str]:
    """``$KUBECONFIG`` (a path list) if set, else ``~/.kube/config``; only paths that exist."""
    env = os.environ if environ is None else environ
    raw = env.get("KUBECONFIG")
    candidates = (
        [p for p in raw.split(os.pathsep) if p] if raw else [str(Path("~/.kube/config").expanduser())]
    )
    return [p for p in candidates if Path(p).expanduser().is_file()]


def flat_parts(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(context, cluster, user) bodies of a flattened kubeconfig."""
    ctx = dict((config["contexts"][0].get("context")) or {})
    cluster = dict(config["clusters"][0].get("cluster") or {})
    user = dict(config["users"][0].get("user") or {})
    return ctx, cluster, user


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """Every secret string inside a kubeconfig, for the secrets masker."""
    found: list[str] = []
    for user in config.get("users") or []:
        body = user.get("user") or {}
        found.extend(str(body[k]) for k in SECRET_USER_KEYS if body.get(k))
        oidc = (body.get("auth-provider") or {}).get("config") or {}
        found.extend(str(oidc[k]) for k in SECRET_OIDC_KEYS if oidc.get(k))
        for env in (body.get("exec") or {}).get("env") or []:
            if isinstance(env, dict) and env.get("value") and _SENSITIVE_ENV.search(str(env.get("name", ""))):
                found.append(str(env["value"]))
    return found


def canonical_json(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))
