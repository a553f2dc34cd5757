"""KubernetesHook (sync, ``kubernetes``) and AsyncKubernetesHook (``kubernetes_asyncio``).

Both turn an Airflow connection (plus optional overrides) into a :class:`ClusterAccess` and offer the same
pod operations with the same names, arguments, errors and retry policy. Requests are prepared and answers
interpreted by :mod:`airflow_provider_k8spod.hooks.api`; the hooks only do the I/O, through the HTTP
sessions of the ``kubernetes`` / ``kubernetes_asyncio`` clients. Objects are plain JSON dicts.

The sync hook is for workers, users' own code, ``test_connection`` and ``on_kill``. The async hook keeps
one long-lived client per ClusterAccess and event loop, so a triggerer running many triggers does no
per-call TLS or file set-up on its loop.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_k8spod.exceptions import (
    ApiUnavailableError,
    ExecInterruptedError,
    ExecOutputTooLargeError,
    KubernetesApiError,
)
from airflow_provider_k8spod.hooks import api
from airflow_provider_k8spod.hooks.access import ClusterAccess, close_async_clients, resolve_cluster_access
from airflow_provider_k8spod.hooks.api import ApiRequest, ExecCollector, ExecResult, WatchDecoder, WatchEvent
from airflow_provider_k8spod.hooks.connection import aload_connection_settings, load_connection_settings
from airflow_provider_k8spod.hooks.fields import CONN_TYPE, DEFAULT_CONN_ID
from airflow_provider_k8spod.hooks.retry import DEFAULT_POLICY, RetryPolicy, parse_retry_after

__all__ = [
    "AsyncKubernetesHook",
    "ClusterAccess",
    "KubernetesHook",
    "ObjectList",
    "PodList",
    "close_async_clients",
]

_USER_AGENT = "airflow-provider-k8spod"
#: Largest exec output kept when no explicit cap is given.
DEFAULT_EXEC_OUTPUT_LIMIT = 64 * 1024 * 1024


class ObjectList(list[dict[str, Any]]):
    """The objects of a list call; ``resource_version`` is where a watch continues from."""

    resource_version: str | None = None


#: The pods of a list call (an :class:`ObjectList`).
PodList = ObjectList


def _as_dict(obj: Any) -> dict[str, Any]:
    """Accept a ``kubernetes.client`` model or a dict (wire form)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict") and hasattr(obj, "attribute_map"):
        from kubernetes.client import ApiClient

        return dict(ApiClient().sanitize_for_serialization(obj))
    raise TypeError(f"expected a dict or a kubernetes.client model, got {type(obj).__name__}")


class _Retrying:
    """Bookkeeping for one call under a :class:`RetryPolicy` (shared by both drivers)."""

    def __init__(self, policy: RetryPolicy, request: ApiRequest, log: Any) -> None:
        self.policy, self.request, self.log = policy, request, log
        self.start = time.monotonic()
        self.attempt = 0

    def wait_or_raise(self, error: KubernetesApiError, retry_after: float | None) -> float:
        self.attempt += 1
        elapsed = time.monotonic() - self.start
        wait = self.policy.delay(
            attempt=self.attempt, elapsed=elapsed, status=error.status, retry_after=retry_after
        )
        if wait is None or not _retryable(error):
            if isinstance(error, ApiUnavailableError) and self.attempt > 1:
                error.args = (f"{error.args[0]} (gave up after {self.attempt} attempts in {elapsed:.1f}s)",)
            raise error
        self.log.warning("%s; retrying in %.1fs (attempt %d)", error, wait, self.attempt + 1)
        return wait


def _retryable(error: KubernetesApiError) -> bool:
    return isinstance(error, ApiUnavailableError)


class _HookBase(BaseHook):
    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Kubernetes Pods (k8spod)"

    def __init__(
        self,
        conn_id: str | None = DEFAULT_CONN_ID,
        *,
        kubernetes_conn_id: str | None = None,
        in_cluster: bool | None = None,
        config_file: str | None = None,
        cluster_context: str | None = None,
        disable_verify_ssl: bool | None = None,
        disable_tcp_keepalive: bool | None = None,
        cluster_access: ClusterAccess | Mapping[str, Any] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = kubernetes_conn_id if kubernetes_conn_id is not None else conn_id
        self.overrides: dict[str, Any] = {
            "in_cluster": in_cluster,
            "config_file": config_file,
            "cluster_context": cluster_context,
            "disable_verify_ssl": disable_verify_ssl,
            "disable_tcp_keepalive": disable_tcp_keepalive,
        }
        if isinstance(cluster_access, Mapping):
            cluster_access = ClusterAccess.deserialize(cluster_access)
        self._access: ClusterAccess | None = cluster_access
        self.retry_policy = retry_policy or DEFAULT_POLICY

    @property
    def _credentials_conn_id(self) -> str | None:
        """The connection the credentials came from (None: none, or a missing ``kubernetes_default``)."""
        return self._access.conn_id if self._access is not None else self.conn_id

    def _api_error(
        self, request: ApiRequest, status: int, body: bytes | str | None, headers: Any = None
    ) -> KubernetesApiError:
        return api.api_error(request, status, body, conn_id=self._credentials_conn_id, headers=headers)

    def _connection_error(self, request: ApiRequest, exc: BaseException) -> KubernetesApiError:
        return api.connection_error(request, exc, conn_id=self._credentials_conn_id)


class KubernetesHook(_HookBase):
    """Sync hook: a connection id (default ``kubernetes_default``) to a ``kubernetes`` client.

    :param conn_id: Airflow connection id; ``None`` means no connection (in-cluster or local kubeconfig).
    :param in_cluster: override: use the pod's service account.
    :param config_file: override: path of a kubeconfig file (read on this machine).
    :param cluster_context: override: kubeconfig context.
    :param cluster_access: an already resolved :class:`ClusterAccess` (skips the connection lookup).
    """

    @property
    def cluster_access(self) -> ClusterAccess:
        if self._access is None:
            settings = load_connection_settings(self.conn_id)
            self._access = resolve_cluster_access(settings, **self.overrides)
        return self._access

    def get_conn(self) -> Any:
        """The ``kubernetes.client.ApiClient`` of this hook (created once)."""
        return self.api_client

    @cached_property
    def api_client(self) -> Any:
        return self.cluster_access.sync_client()

    @cached_property
    def core_v1_client(self) -> Any:
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api_client)

    def get_namespace(self) -> str | None:
        """The connection's default namespace (or the kubeconfig context's), if any."""
        return self.cluster_access.namespace

    def close(self) -> None:
        if "api_client" in self.__dict__:
            self.api_client.close()
            del self.__dict__["api_client"]
            self.__dict__.pop("core_v1_client", None)

    # -- transport -------------------------------------------------------------------------------------

    def _headers(self, request: ApiRequest) -> dict[str, str]:
        configuration = self.api_client.configuration
        headers = api.request_headers(request, _USER_AGENT)
        token = configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        elif configuration.username:
            headers["Authorization"] = configuration.get_basic_auth_token()
        return headers

    def _open(self, request: ApiRequest) -> Any:
        import urllib3

        retrying = _Retrying(self.retry_policy, request, self.log)
        pool = self.api_client.rest_client.pool_manager
        url = self.api_client.configuration.host + request.url_path
        while True:
            try:
                response = pool.request(
                    request.method,
                    url,
                    body=request.encoded_body(),
                    headers=self._headers(request),
                    preload_content=False,
                    timeout=urllib3.Timeout(connect=api.CONNECT_TIMEOUT, read=request.read_timeout),
                    retries=False,
                )
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                time.sleep(retrying.wait_or_raise(self._connection_error(request, exc), None))
                continue
            if response.status < 400:
                return response
            body = response.read()
            response.release_conn()
            error = self._api_error(request, response.status, body, response.headers)
            if not _retryable(error):
                raise error
            time.sleep(retrying.wait_or_raise(error, parse_retry_after(response.headers.get("Retry-After"))))

    def _call(self, request: ApiRequest) -> Any:
        response = self._open(request)
        try:
            return api.decode_json(request, response.read())
        finally:
            response.release_conn()

    def _stream(self, request: ApiRequest) -> Iterator[bytes]:
        import urllib3

        response = self._open(request)
        try:
            yield from response.stream(64 * 1024, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._connection_error(request, exc) from exc
        finally:
            response.release_conn()

    def _watch(self, request: ApiRequest) -> Iterator[WatchEvent]:
        decoder = WatchDecoder(request)
        for chunk in self._stream(request):
            yield from decoder.feed(chunk)
        yield from decoder.close()

    # -- pod operations ----------------------------------------------------------------------------------

    def create_pod(self, pod: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Create a pod from a dict or ``V1Pod``; returns the pod as the API stored it."""
        result: dict[str, Any] = self._call(api.create_pod(_as_dict(pod)))
        return result

    def get_pod(self, name: str, namespace: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(api.get_pod(name, namespace))
        return result

    def list_pods(
        self, namespace: str | None, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> PodList:
        """Pods of ``namespace`` (None: of every namespace) matching the selectors."""
        data = self._call(
            api.list_pods(namespace, label_selector=label_selector, field_selector=field_selector)
        )
        return _object_list(data)

    def watch_pods(
        self,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = api.WATCH_TIMEOUT_SECONDS,
    ) -> Iterator[WatchEvent]:
        """Events after ``resource_version`` until the server ends the watch (``timeout_seconds``).

        Raises :class:`~airflow_provider_k8spod.exceptions.ExpiredError` when the version is too old.
        """
        request = api.watch_pods(
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_seconds=timeout_seconds,
        )
        return self._watch(request)

    def delete_pod(
        self, name: str, namespace: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any] | None:
        """Delete a pod; returns the pod (now terminating) or None when it was already gone."""
        from airflow_provider_k8spod.exceptions import NotFoundError

        try:
            result: dict[str, Any] = self._call(
                api.delete_pod(name, namespace, grace_period_seconds=grace_period_seconds)
            )
        except NotFoundError:
            return None
        return result

    def patch_pod_metadata(
        self,
        name: str,
        namespace: str,
        *,
        labels: Mapping[str, str | None] | None = None,
        annotations: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            api.patch_pod_metadata(name, namespace, labels=labels, annotations=annotations)
        )
        return result

    def read_pod_logs(self, name: str, namespace: str, **options: Any) -> Iterator[bytes]:
        """Raw log bytes as they arrive. Options: container, follow, timestamps, since_time (RFC 3339),
        since_seconds, tail_lines, limit_bytes, previous, read_timeout."""
        return self._stream(api.pod_logs(name, namespace, **options))

    def list_pod_events(self, name: str | None, namespace: str, *, uid: str | None = None) -> ObjectList:
        """The Events of a pod (its ``resource_version`` is where :meth:`watch_pod_events` continues)."""
        return _object_list(self._call(api.list_pod_events(name, namespace, uid=uid)))

    def watch_pod_events(
        self,
        name: str | None,
        namespace: str,
        *,
        resource_version: str,
        uid: str | None = None,
        timeout_seconds: int = api.WATCH_TIMEOUT_SECONDS,
    ) -> Iterator[WatchEvent]:
        request = api.watch_pod_events(
            name, namespace, resource_version=resource_version, uid=uid, timeout_seconds=timeout_seconds
        )
        return self._watch(request)

    def exec_in_pod(
        self,
        name: str,
        namespace: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        max_stdout: int | None = DEFAULT_EXEC_OUTPUT_LIMIT,
        timeout: float = 120.0,
    ) -> ExecResult:
        """Run ``command`` in a container and collect its output; raises ExecError above ``max_stdout``."""
        import websocket

        request = api.pod_exec(name, namespace, command, container=container)
        configuration = self.api_client.configuration
        url = (
            configuration.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
            + request.url_path
        )
        headers = [f"{k}: {v}" for k, v in self._headers(request).items() if k != "Accept"]
        sslopt: dict[str, Any] = {
            "cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE
        }
        if not configuration.verify_ssl:
            sslopt["check_hostname"] = False
        for key, value in (
            ("ca_certs", configuration.ssl_ca_cert),
            ("certfile", configuration.cert_file),
            ("keyfile", configuration.key_file),
            ("server_hostname", configuration.tls_server_name),
        ):
            if value:
                sslopt[key] = value
        retrying = _Retrying(self.retry_policy, request, self.log)
        while True:
            try:
                ws = websocket.create_connection(
                    url, header=headers, sslopt=sslopt, subprotocols=list(api.EXEC_PROTOCOLS), timeout=timeout
                )
                break
            except websocket.WebSocketBadStatusException as exc:
                error = self._api_error(request, exc.status_code, exc.resp_body)
                if not _retryable(error):
                    raise error from None
                time.sleep(retrying.wait_or_raise(error, None))
            except (OSError, websocket.WebSocketException) as exc:
                time.sleep(retrying.wait_or_raise(self._connection_error(request, exc), None))
        collector = ExecCollector(max_stdout=max_stdout)
        deadline = time.monotonic() + timeout
        try:
            while not collector.done and time.monotonic() < deadline:
                try:
                    opcode, data = ws.recv_data()
                except websocket.WebSocketConnectionClosedException:
                    break
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                    collector.feed(data if isinstance(data, bytes) else data.encode())
        except (OSError, websocket.WebSocketException) as exc:
            raise self._connection_error(request, exc) from exc
        finally:
            ws.close()
        return _exec_result(request, collector, max_stdout, timeout)

    # -- connection test --------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Call the API server; report its address, version and whether pods can be listed."""
        try:
            access = self.cluster_access
            version = self._call(api.get_version()) or {}
            namespace = access.namespace or "default"
            where = "in-cluster" if access.in_cluster else access.server
            message = f"Connected to {where} (Kubernetes {version.get('gitVersion', 'unknown version')})"
            try:
                self._call(api.list_namespaced_pods_probe(namespace))
            except KubernetesApiError as exc:
                return False, f"{message}, but listing pods in namespace {namespace!r} failed: {exc}"
            return True, f"{message}; pods in namespace {namespace!r} can be listed"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"


def _object_list(data: Any) -> ObjectList:
    result = ObjectList((data or {}).get("items") or [])
    result.resource_version = ((data or {}).get("metadata") or {}).get("resourceVersion")
    return result


def _exec_result(
    request: ApiRequest, collector: ExecCollector, max_stdout: int | None, timeout: float
) -> ExecResult:
    if collector.overflow:
        raise ExecOutputTooLargeError(
            f"exec in {request.what}: output is larger than the limit of {max_stdout} bytes; "
            "the command's output was not read in full"
        )
    result = collector.result()
    if result.status is None:
        raise ExecInterruptedError(
            f"exec in {request.what}: the stream ended without the command's status (the connection was "
            f"cut, or no answer within {timeout:.0f}s)"
        )
    return result


class AsyncKubernetesHook(_HookBase):
    """Async hook: the same operations as :class:`KubernetesHook`, on ``kubernetes_asyncio``.

    Give it a ``cluster_access`` (what the trigger does) or a connection id, resolved asynchronously.
    """

    async def get_cluster_access(self) -> ClusterAccess:
        if self._access is None:
            settings = await aload_connection_settings(self.conn_id)
            self._access = await asyncio.to_thread(resolve_cluster_access, settings, **self.overrides)
        return self._access

    async def get_api_client(self) -> Any:
        """The shared, long-lived ``kubernetes_asyncio`` ApiClient for this access and event loop."""
        return await (await self.get_cluster_access()).async_client()

    async def get_namespace(self) -> str | None:
        return (await self.get_cluster_access()).namespace

    # -- transport -------------------------------------------------------------------------------------

    async def _headers(self, client: Any, request: ApiRequest) -> dict[str, str]:
        configuration = client.configuration
        headers = api.request_headers(request, _USER_AGENT)
        token = await configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        elif configuration.username:
            headers["Authorization"] = configuration.get_basic_auth_token()
        return headers

    async def _open(self, request: ApiRequest) -> Any:
        import aiohttp
        import multidict

        client = await self.get_api_client()
        session = client.rest_client.pool_manager
        configuration = client.configuration
        url = configuration.host + request.url_path
        timeout = aiohttp.ClientTimeout(
            total=None, connect=api.CONNECT_TIMEOUT, sock_read=request.read_timeout
        )
        extra: dict[str, Any] = {}
        if configuration.tls_server_name:
            extra["server_hostname"] = configuration.tls_server_name
        if configuration.proxy:
            extra["proxy"] = configuration.proxy
        retrying = _Retrying(self.retry_policy, request, self.log)
        while True:
            try:
                response = await session.request(
                    request.method,
                    url,
                    data=request.encoded_body(),
                    headers=await self._headers(client, request),
                    timeout=timeout,
                    **extra,
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                await asyncio.sleep(retrying.wait_or_raise(self._connection_error(request, exc), None))
                continue
            if response.status < 400:
                return response
            body = await response.read()
            response.release()
            error = self._api_error(request, response.status, body, multidict.CIMultiDict(response.headers))
            if not _retryable(error):
                raise error
            await asyncio.sleep(
                retrying.wait_or_raise(error, parse_retry_after(response.headers.get("Retry-After")))
            )

    async def _call(self, request: ApiRequest) -> Any:
        import aiohttp

        response = await self._open(request)
        try:
            body = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._connection_error(request, exc) from exc
        finally:
            response.release()
        return api.decode_json(request, body)

    async def _stream(self, request: ApiRequest) -> AsyncIterator[bytes]:
        import aiohttp

        response = await self._open(request)
        try:
            async for chunk in response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._connection_error(request, exc) from exc
        finally:
            response.close()

    async def _watch(self, request: ApiRequest) -> AsyncIterator[WatchEvent]:
        decoder = WatchDecoder(request)
        async for chunk in self._stream(request):
            for event in decoder.feed(chunk):
                yield event
        for event in decoder.close():
            yield event

    # -- pod operations ----------------------------------------------------------------------------------

    async def create_pod(self, pod: Mapping[str, Any] | Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(api.create_pod(_as_dict(pod)))
        return result

    async def get_pod(self, name: str, namespace: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(api.get_pod(name, namespace))
        return result

    async def list_pods(
        self, namespace: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> PodList:
        data = await self._call(
            api.list_pods(namespace, label_selector=label_selector, field_selector=field_selector)
        )
        return _object_list(data)

    def watch_pods(
        self,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = api.WATCH_TIMEOUT_SECONDS,
    ) -> AsyncIterator[WatchEvent]:
        request = api.watch_pods(
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_seconds=timeout_seconds,
        )
        return self._watch(request)

    async def delete_pod(
        self, name: str, namespace: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any] | None:
        from airflow_provider_k8spod.exceptions import NotFoundError

        try:
            result: dict[str, Any] = await self._call(
                api.delete_pod(name, namespace, grace_period_seconds=grace_period_seconds)
            )
        except NotFoundError:
            return None
        return result

    async def patch_pod_metadata(
        self,
        name: str,
        namespace: str,
        *,
        labels: Mapping[str, str | None] | None = None,
        annotations: Mapping[str, str | None] | None = None,
        active_deadline_seconds: int | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            api.patch_pod_metadata(
                name,
                namespace,
                labels=labels,
                annotations=annotations,
                active_deadline_seconds=active_deadline_seconds,
            )
        )
        return result

    def read_pod_logs(self, name: str, namespace: str, **options: Any) -> AsyncIterator[bytes]:
        """Raw log bytes as they arrive; same options as :meth:`KubernetesHook.read_pod_logs`."""
        return self._stream(api.pod_logs(name, namespace, **options))

    async def list_pod_events(
        self, name: str | None, namespace: str, *, uid: str | None = None
    ) -> ObjectList:
        return _object_list(await self._call(api.list_pod_events(name, namespace, uid=uid)))

    def watch_pod_events(
        self,
        name: str | None,
        namespace: str,
        *,
        resource_version: str,
        uid: str | None = None,
        timeout_seconds: int = api.WATCH_TIMEOUT_SECONDS,
    ) -> AsyncIterator[WatchEvent]:
        request = api.watch_pod_events(
            name, namespace, resource_version=resource_version, uid=uid, timeout_seconds=timeout_seconds
        )
        return self._watch(request)

    async def exec_in_pod(
        self,
        name: str,
        namespace: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        max_stdout: int | None = DEFAULT_EXEC_OUTPUT_LIMIT,
        timeout: float = 120.0,  # noqa: ASYNC109 - a websocket receive timeout, as in the sync hook
    ) -> ExecResult:
        import aiohttp

        request = api.pod_exec(name, namespace, command, container=container)
        client = await self.get_api_client()
        session = client.rest_client.pool_manager
        url = client.configuration.host + request.url_path
        headers = await self._headers(client, request)
        retrying = _Retrying(self.retry_policy, request, self.log)
        collector = ExecCollector(max_stdout=max_stdout)
        while True:
            try:
                ws_cm = session.ws_connect(
                    url,
                    protocols=api.EXEC_PROTOCOLS,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=timeout, ws_close=10.0),
                    max_msg_size=0,
                )
                ws = await ws_cm
                break
            except aiohttp.WSServerHandshakeError as exc:
                error = self._api_error(request, exc.status, None)
                if not _retryable(error):
                    raise error from None
                await asyncio.sleep(retrying.wait_or_raise(error, None))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                await asyncio.sleep(retrying.wait_or_raise(self._connection_error(request, exc), None))
        try:
            async with asyncio.timeout(timeout):
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        collector.feed(message.data)
                    elif message.type == aiohttp.WSMsgType.TEXT:
                        collector.feed(message.data.encode())
                    else:
                        break
                    if collector.done:
                        break
        except TimeoutError:
            pass
        except (aiohttp.ClientError, OSError) as exc:
            raise self._connection_error(request, exc) from exc
        finally:
            await ws.close()
        return _exec_result(request, collector, max_stdout, timeout)
