"""The connection type and the extras the hooks read.

This module imports nothing from Airflow: the provider metadata (loaded by Airflow while it initialises)
reads it to build the connection form.
"""

from __future__ import annotations

DEFAULT_CONN_ID = "kubernetes_default"
CONN_TYPE = "k8spod"

#: Prefixes an extra may carry: the upstream legacy one and our own connection type's.
LEGACY_PREFIXES = ("extra__kubernetes__", f"extra__{CONN_TYPE}__")

#: Extra name -> (kind, label, description). ``kind`` drives parsing and the UI form schema: ``secret`` is a
#: masked one-line input (the browser drops line breaks from it), ``text`` a multi-line text area.
EXTRA_FIELDS: dict[str, tuple[str, str, str]] = {
    "in_cluster": (
        "bool",
        "In cluster configuration",
        "Use the service account of the pod Airflow runs in.",
    ),
    "kube_config_path": (
        "str",
        "Kube config path",
        "Path of a kubeconfig file on the worker. Its content is read on the worker, so the triggerer "
        "does not need the file.",
    ),
    "kube_config": (
        "secret",
        "Kube config (JSON)",
        "Content of a kubeconfig file as JSON, e.g. the output of "
        "'kubectl config view --raw --minify --flatten -o json'. This masked field keeps one line, so YAML "
        "(which needs its line breaks) only works from an environment variable or the Extra Fields JSON.",
    ),
    "cluster_context": ("str", "Cluster context", "Context of the kubeconfig to use."),
    "namespace": ("str", "Namespace", "Default namespace for pods."),
    "ca_cert": (
        "text",
        "CA certificate (PEM)",
        "Certificate authority of the API server, for a connection given by host and token "
        "(PEM text, or base64 of it).",
    ),
    "disable_verify_ssl": ("bool", "Disable SSL", "Do not verify the API server's TLS certificate."),
    "disable_tcp_keepalive": ("bool", "Disable TCP keepalive", "Do not enable TCP keepalive."),
    "xcom_sidecar_container_image": ("str", "XCom sidecar image", "Image of the XCom sidecar."),
    "xcom_sidecar_container_resources": (
        "json",
        "XCom sidecar resources (JSON)",
        'Resources of the XCom sidecar, e.g. {"requests": {"cpu": "5m"}}.',
    ),
    "xcom_sidecar_container_security_context": (
        "json",
        "XCom sidecar security context (JSON)",
        "Security context of the XCom sidecar.",
    ),
    "xcom_transport": (
        "str",
        "XCom transport",
        "How the XCom result comes back: sidecar (default, needs pods/exec), termination_message or logs. "
        "The operator's xcom_transport argument wins.",
    ),
}

#: How an XCom result can come back (``xcom_transport``), each with how the connection form names it.
XCOM_TRANSPORTS: dict[str, str] = {
    "sidecar": "sidecar: read through an exec into a sidecar (needs pods/exec)",
    "termination_message": "termination_message: the main container's termination message (up to 4 KiB)",
    "logs": "logs: a marked line in the main container's log",
}
