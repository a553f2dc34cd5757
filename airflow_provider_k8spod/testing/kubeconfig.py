"""The kubeconfig written for a local cluster: one cluster, one token user, one ``local`` context."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from typing import Any

from airflow_provider_k8spod.testing._util import JSON

CONTEXT = "local"
CLUSTER = "k8spod-local"
USER = "k8spod-local-admin"


def build(server_url: str, ca_pem: bytes, token: str, namespace: str = "default", user: str = USER) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": CLUSTER,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CLUSTER, "user": user, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
    }


def write(path: str, config: JSON) -> None:
    """Write atomically with mode 0600 (the file holds a bearer token)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(to_yaml(config))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _scalar(value: Any) -> str:
    # JSON scalars are valid YAML flow scalars; strings are always quoted.
    return json.dumps(value)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for plain dict/list/scalar data (no PyYAML import: it costs start-up time)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                rendered = "{}" if item == {} else "[]" if item == [] else _scalar(item)
                out.append(f"{pad}{key}: {rendered}\n")
        return "".join(out)
    if isinstance(value, list):
        out = []
        for item in value:
            body = to_yaml(item, indent + 2)
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}- {body[indent + 2 :]}")
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
        return "".join(out)
    return f"{pad}{_scalar(value)}\n"


def read(path: str) -> JSON:
    import yaml

    with open(path) as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a kubeconfig")
    return data


def current_server(config: JSON) -> tuple[str, str, bytes]:
    """(server URL, token, CA PEM) of the current context."""
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    ca = base64.b64decode(cluster["certificate-authority-data"])
    return cluster["server"], user["token"], ca
