"""ClusterAccess: how to reach one Kubernetes cluster, as one small serializable value.

It is resolved once, on the worker, from a connection plus operator overrides
(:func:`resolve_cluster_access`). It holds kubeconfig *content* (flattened to one context, files inlined),
never a local file path, so the deferrable trigger can carry it to the triggerer unchanged. From it come
the sync ``kubernetes`` client and the async ``kubernetes_asyncio`` client, configured the same way.

Client construction does its blocking work (temporary files for certificates, building an SSL context,
running an exec plugin) once per process and access; the async side does it in a worker thread and keeps
one long-lived client per access and event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import hashlib
import logging
import os
import socket
import ssl
import tempfile
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_k8spod.exceptions import ConnectionConfigError
from airflow_provider_k8spod.hooks import kubeconfig as kc
from airflow_provider_k8spod.hooks.auth import (
    Credential,
    CredentialCache,
    CredentialSource,
    ExecPlugin,
    OidcRefresh,
    TokenFile,
)
from airflow_provider_k8spod.hooks.connection import ConnectionSettings
from airflow_provider_k8spod.hooks.secrets import mask_secrets

log = logging.getLogger(__name__)

#: Where Kubernetes mounts a pod's service-account credentials.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

#: TCP keepalive settings (seconds / probes): detect a dead API server connection within ~5 minutes.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 120, 30, 6


def running_in_cluster(environ: Mapping[str, str] | None = None, sa_dir: str | None = None) -> bool:
    """True when this process runs in a Kubernetes pod with a service-account token."""
    env = os.environ if environ is None else environ
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and Path(sa_dir or SERVICE_ACCOUNT_DIR, "token").is_file()


@dataclass(frozen=True, repr=False, eq=True)
class ClusterAccess:
    """Everything needed to reach a cluster; serializable, with secrets masked in ``repr``.

    Exactly one of ``kubeconfig`` (a flattened kubeconfig) and ``in_cluster`` is set.
    """

    kubeconfig: Mapping[str, Any] | None = field(default=None, compare=True)
    in_cluster: bool = False
    verify_tls: bool = True
    tcp_keepalive: bool = True
    namespace: str | None = None
    conn_id: str | None = None

    def __post_init__(self) -> None:
        if bool(self.kubeconfig) == bool(self.in_cluster):
            raise ValueError("ClusterAccess needs exactly one of kubeconfig and in_cluster")
        if self.kubeconfig is not None:
            for section in ("contexts", "clusters", "users"):
                if len(self.kubeconfig.get(section) or []) != 1:
                    raise ValueError("ClusterAccess.kubeconfig must be flattened to one context")

    def __repr__(self) -> str:
        where = "in-cluster" if self.in_cluster else f"server={self.server!r}, context={self.context!r}"
        return (
            f"ClusterAccess({where}, namespace={self.namespace!r}, verify_tls={self.verify_tls}, "
            f"conn_id={self.conn_id!r}, credentials='***')"
        )

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def context(self) -> str | None:
        return None if self.kubeconfig is None else str(self.kubeconfig.get("current-context"))

    @property
    def server(self) -> str | None:
        if self.kubeconfig is None:
            return None
        return str(kc.flat_parts(self.kubeconfig)[1].get("server"))

    @property
    def verifies_tls(self) -> bool:
        """False when the API server's certificate is not checked: ``disable_verify_ssl``, or
        ``insecure-skip-tls-verify`` in the kubeconfig."""
        if not self.verify_tls:
            return False
        if self.kubeconfig is None:
            return True
        return not kc.flat_parts(self.kubeconfig)[1].get("insecure-skip-tls-verify")

    @property
    def key(self) -> str:
        """A digest that identifies this access (cache key); reveals nothing about the secrets."""
        return hashlib.sha256(kc.canonical_json(self.serialize()).encode()).hexdigest()

    def serialize(self) -> dict[str, Any]:
        """A JSON-compatible dict (for trigger kwargs)."""
        return {
            "kubeconfig": dict(self.kubeconfig) if self.kubeconfig is not None else None,
            "in_cluster": self.in_cluster,
            "verify_tls": self.verify_tls,
            "tcp_keepalive": self.tcp_keepalive,
            "namespace": self.namespace,
            "conn_id": self.conn_id,
        }

    @classmethod
    def deserialize(cls, data: Mapping[str, Any]) -> ClusterAccess:
        access = cls(
            kubeconfig=data.get("kubeconfig"),
            in_cluster=bool(data.get("in_cluster")),
            verify_tls=bool(data.get("verify_tls", True)),
            tcp_keepalive=bool(data.get("tcp_keepalive", True)),
            namespace=data.get("namespace"),
            conn_id=data.get("conn_id"),
        )
        access.mask_secrets()
        return access

    def secret_values(self) -> list[str]:
        if self.kubeconfig is None:
            return []
        return [kc.canonical_json(self.kubeconfig), *kc.secret_values(self.kubeconfig)]

    def mask_secrets(self) -> None:
        """Register the token and kubeconfig content with Airflow's secrets masker."""
        mask_secrets(*self.secret_values())

    # -- clients -------------------------------------------------------------------------------------

    def sync_client(self) -> Any:
        """A new ``kubernetes.client.ApiClient`` for this access (the caller owns and closes it)."""
        import kubernetes.client

        material = _material(self)
        configuration = kubernetes.client.Configuration()
        material.configure(configuration, async_client=False)
        configuration.retries = False  # our retry policy decides; urllib3 must not retry on its own
        if self.tcp_keepalive:
            from urllib3.connection import HTTPConnection

            configuration.socket_options = [*HTTPConnection.default_socket_options, *_keepalive_options()]
        return kubernetes.client.ApiClient(configuration)

    async def async_client(self) -> Any:
        """The long-lived ``kubernetes_asyncio`` ApiClient of this access on the running event loop.

        The first call per process does the blocking set-up in a worker thread; later calls return the same
        client. Close the clients of a loop with :func:`close_async_clients` before the loop ends.
        """
        loop = asyncio.get_running_loop()
        clients = _ASYNC_CLIENTS.setdefault(loop, {})
        client = clients.get(self.key)
        if client is None:
            lock = _ASYNC_LOCKS.setdefault(loop, asyncio.Lock())
            async with lock:
                client = clients.get(self.key)
                if client is None:
                    material = await asyncio.to_thread(_material, self)
                    ssl_context = await asyncio.to_thread(material.ssl_context)
                    client = _make_async_client(material, ssl_context, keepalive=self.tcp_keepalive)
                    clients[self.key] = client
        return client


# -- resolution ----------------------------------------------------------------------------------------


def resolve_cluster_access(
    settings: ConnectionSettings,
    *,
    in_cluster: bool | None = None,
    config_file: str | None = None,
    cluster_context: str | None = None,
    disable_verify_ssl: bool | None = None,
    disable_tcp_keepalive: bool | None = None,
    environ: Mapping[str, str] | None = None,
    sa_dir: str | None = None,
) -> ClusterAccess:
    """Combine a connection with operator overrides into one :class:`ClusterAccess`.

    Operator overrides (``in_cluster``, ``config_file``, ``cluster_context``, ``disable_verify_ssl``,
    ``disable_tcp_keepalive``) win over the connection. With no source at all: in-cluster when running in
    a pod, else ``$KUBECONFIG`` / ``~/.kube/config``. Files are read here, on the worker; the result
    carries their content. When the API server's certificate will not be verified, a warning says so
    (once per resolution: once per task for the operator).
    """
    access = _resolve_cluster_access(
        settings,
        in_cluster=in_cluster,
        config_file=config_file,
        cluster_context=cluster_context,
        disable_verify_ssl=disable_verify_ssl,
        disable_tcp_keepalive=disable_tcp_keepalive,
        environ=environ,
        sa_dir=sa_dir,
    )
    if not access.verifies_tls:
        log.warning("%s", unverified_tls_warning(access))
    return access


def unverified_tls_warning(access: ClusterAccess) -> str:
    """The warning for an access that does not verify the API server's certificate."""
    where = f"connection {access.conn_id!r}" if access.conn_id else "the local kubeconfig"
    why = "disable_verify_ssl" if not access.verify_tls else "insecure-skip-tls-verify in its kubeconfig"
    return (
        f"TLS verification of the API server {access.server or '(in-cluster)'} is off for {where} ({why}): "
        "anyone who can intercept the connection can impersonate the cluster and receive its credentials. "
        "Give the connection the cluster's CA certificate (extra 'ca_cert') instead"
    )


def _resolve_cluster_access(
    settings: ConnectionSettings,
    *,
    in_cluster: bool | None = None,
    config_file: str | None = None,
    cluster_context: str | None = None,
    disable_verify_ssl: bool | None = None,
    disable_tcp_keepalive: bool | None = None,
    environ: Mapping[str, str] | None = None,
    sa_dir: str | None = None,
) -> ClusterAccess:
    conn = f"connection {settings.conn_id!r}" if settings.conn_id else "no connection"
    context = cluster_context or settings.cluster_context
    insecure = disable_verify_ssl if disable_verify_ssl is not None else bool(settings.disable_verify_ssl)
    no_keepalive = (
        disable_tcp_keepalive if disable_tcp_keepalive is not None else bool(settings.disable_tcp_keepalive)
    )

    def access(
        kubeconfig: dict[str, Any] | None = None, namespace: str | None = settings.namespace
    ) -> ClusterAccess:
        return ClusterAccess(
            kubeconfig=kubeconfig,
            in_cluster=kubeconfig is None,
            namespace=namespace,
            verify_tls=not insecure,
            tcp_keepalive=not no_keepalive,
            conn_id=settings.conn_id,
        )

    config: dict[str, Any] | None = None
    origin = conn
    if in_cluster:
        return access()
    if config_file:
        origin = f"operator argument 'config_file' ({config_file!r})"
        config = kc.read_kubeconfig_file(config_file, origin=origin)
    elif settings.in_cluster and in_cluster is None:
        return access()
    elif settings.kube_config:
        origin = f"{conn}, field 'kube_config'"
        config = kc.parse_kubeconfig(settings.kube_config, origin=origin)
    elif settings.kube_config_path:
        origin = f"{conn}, field 'kube_config_path' ({settings.kube_config_path!r})"
        config = kc.read_kubeconfig_file(settings.kube_config_path, origin=origin)
    elif settings.host:
        config = kc.kubeconfig_from_host(
            settings.host,
            token=settings.token,
            ca_cert=settings.ca_cert,
            insecure=insecure,
            origin=conn,
        )
        if context:
            raise ConnectionConfigError(
                f"{conn}: 'cluster_context' {context!r} cannot apply to a connection given by host and token"
            )
    elif in_cluster is None and running_in_cluster(environ, sa_dir):
        return access()
    else:
        paths = kc.default_kubeconfig_paths(environ)
        if not paths:
            raise ConnectionConfigError(
                f"{conn}: no cluster configured. Set one of 'kube_config', 'kube_config_path', 'in_cluster' "
                "or 'host' on the connection, or run in a pod, or provide $KUBECONFIG or ~/.kube/config"
            )
        origin = f"{conn}, kubeconfig {os.pathsep.join(paths)!r}"
        config = kc.merge_kubeconfigs([kc.read_kubeconfig_file(p) for p in paths])

    flat = kc.inline_files(kc.flatten(config, context, origin=origin), base_dir=None, origin=origin)
    if insecure:
        flat["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    ctx_namespace = kc.flat_parts(flat)[0].get("namespace")
    _check_user(flat, origin)
    result = access(flat, namespace=settings.namespace or ctx_namespace)
    result.mask_secrets()
    return result


def _check_user(config: Mapping[str, Any], origin: str) -> None:
    _, _, user = kc.flat_parts(config)
    provider = (user.get("auth-provider") or {}).get("name")
    if provider and provider != "oidc":
        raise ConnectionConfigError(
            f"{origin}: auth-provider {provider!r} is not supported; use an exec credential plugin "
            "(e.g. gke-gcloud-auth-plugin, kubelogin) instead"
        )


# -- materialisation: the per-process, blocking part of making clients --------------------------------


class _Material:
    """Temp files and credential cache for one access in this process."""

    def __init__(self, access: ClusterAccess) -> None:
        self.verify = access.verify_tls
        self.tls_server_name: str | None = None
        self.proxy: str | None = None
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self.username: str | None = None
        self.password: str | None = None
        self.credentials: CredentialCache | None = None
        if access.in_cluster:
            env = os.environ
            host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise ConnectionConfigError(
                    f"connection {access.conn_id!r}: in-cluster configuration asked for, but "
                    "KUBERNETES_SERVICE_HOST is not set (this process is not running in a pod)"
                )
            self.server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
            ca = Path(SERVICE_ACCOUNT_DIR, "ca.crt")
            self.ca_file: str | None = str(ca) if ca.is_file() else None
            self.credentials = CredentialCache(TokenFile(str(Path(SERVICE_ACCOUNT_DIR, "token"))))
            return
        assert access.kubeconfig is not None
        _, cluster, user = kc.flat_parts(access.kubeconfig)
        self.server = str(cluster["server"]).rstrip("/")
        if cluster.get("insecure-skip-tls-verify"):
            self.verify = False
        self.tls_server_name = cluster.get("tls-server-name")
        self.proxy = cluster.get("proxy-url")
        self.ca_file = _temp_file(cluster.get("certificate-authority-data"), "ca")
        self.cert_file = _temp_file(user.get("client-certificate-data"), "cert")
        self.key_file = _temp_file(user.get("client-key-data"), "key")
        source: CredentialSource | None = None
        if user.get("token"):
            source = _Static(Credential(str(user["token"])))
        elif user.get("exec"):
            source = ExecPlugin(user["exec"], cluster=cluster)
        elif (user.get("auth-provider") or {}).get("name") == "oidc":
            source = OidcRefresh(user["auth-provider"].get("config") or {})
        elif user.get("username"):
            self.username, self.password = str(user["username"]), str(user.get("password") or "")
        if source is not None:
            self.credentials = CredentialCache(source)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, keyfile=self.key_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def configure(self, configuration: Any, *, async_client: bool) -> None:
        """Fill a ``kubernetes`` or ``kubernetes_asyncio`` Configuration (same attribute names)."""
        configuration.host = self.server
        configuration.ssl_ca_cert = self.ca_file
        configuration.cert_file = self.cert_file
        configuration.key_file = self.key_file
        configuration.verify_ssl = self.verify
        if self.tls_server_name:
            configuration.tls_server_name = self.tls_server_name
        if self.proxy:
            configuration.proxy = self.proxy
        if self.username is not None:
            configuration.username, configuration.password = self.username, self.password
        cache = self.credentials
        if cache is None:
            return
        # "BearerToken" is the key both generated clients look up (the sync one also as "authorization").
        configuration.api_key = {"BearerToken": ""}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        if async_client:

            async def refresh_async(cfg: Any) -> None:
                token = await asyncio.to_thread(cache.token) if cache.needs_refresh() else cache.token()
                cfg.api_key["BearerToken"] = token

            configuration.refresh_api_key_hook = refresh_async
        else:

            def refresh(cfg: Any) -> None:
                cfg.api_key["BearerToken"] = cache.token()

            configuration.refresh_api_key_hook = refresh


class _Static:
    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def fetch(self) -> Credential:
        return self.credential


_TEMP_DIR: str | None = None
_MATERIAL: dict[str, _Material] = {}
_MATERIAL_LOCK = threading.Lock()


def _temp_file(b64: Any, kind: str) -> str | None:
    global _TEMP_DIR
    if not b64:
        return None
    try:
        data = base64.b64decode(str(b64), validate=False)
    except ValueError:
        raise ConnectionConfigError(f"kubeconfig {kind} data is not valid base64") from None
    if _TEMP_DIR is None:
        _TEMP_DIR = tempfile.mkdtemp(prefix="k8spod-")
        atexit.register(_remove_temp_dir, _TEMP_DIR)
    name = hashlib.sha256(data).hexdigest()[:24]
    path = os.path.join(_TEMP_DIR, f"{kind}-{name}.pem")
    if not os.path.exists(path):
        handle = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return path


def _remove_temp_dir(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _material(access: ClusterAccess) -> _Material:
    with _MATERIAL_LOCK:
        found = _MATERIAL.get(access.key)
        if found is None:
            found = _MATERIAL[access.key] = _Material(access)
        return found


def _keepalive_options() -> list[tuple[int, int, int]]:
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


# -- async clients --------------------------------------------------------------------------------------

_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _make_async_client(material: _Material, ssl_context: ssl.SSLContext, *, keepalive: bool) -> Any:
    """A ``kubernetes_asyncio`` ApiClient whose HTTP session uses an SSL context built off the loop.

    The library's own constructor builds its SSL context (blocking file reads) on the event loop; we build
    the same session ourselves with the context prepared in a thread.
    """
    import aiohttp
    from kubernetes_asyncio import client as async_client
    from kubernetes_asyncio.client import rest as async_rest

    configuration = async_client.Configuration()
    material.configure(configuration, async_client=True)

    socket_options = _keepalive_options() if keepalive else []

    def make_socket(addr_info: Any) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        for level, option, value in socket_options:
            sock.setsockopt(level, option, value)
        return sock

    rest_client: Any = async_rest.RESTClientObject.__new__(async_rest.RESTClientObject)
    rest_client.server_hostname = configuration.tls_server_name
    rest_client.proxy = configuration.proxy
    rest_client.proxy_headers = configuration.proxy_headers
    # No connection limit: a triggerer follows hundreds of pods, each holding one connection for its log
    # stream for as long as the pod runs; aiohttp's default of 100 made the 101st stream (and every request
    # after it, watches and execs included) wait for a connection that never came free.
    connector = aiohttp.TCPConnector(
        limit=0,
        ssl=ssl_context,
        socket_factory=make_socket if socket_options else None,
    )
    rest_client.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=True, read_bufsize=2**21)

    api_client: Any = async_client.ApiClient.__new__(async_client.ApiClient)
    # Mirror ApiClient.__init__ without letting it build a second, blocking RESTClientObject.
    api_client.configuration = configuration
    api_client.pool_threads = 1
    api_client.rest_client = rest_client
    api_client.default_headers = {}
    api_client.cookie = None
    api_client.user_agent = "airflow-provider-k8spod"
    api_client.client_side_validation = configuration.client_side_validation
    api_client.k8spod_ssl_context = ssl_context
    return api_client


async def close_async_clients() -> None:
    """Close every async client made on the running loop (call before ``asyncio.run`` returns)."""
    loop = asyncio.get_running_loop()
    clients = _ASYNC_CLIENTS.pop(loop, {})
    _ASYNC_LOCKS.pop(loop, None)
    for client in clients.values():
        await client.close()
