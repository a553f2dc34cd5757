"""The Kubernetes API routes: discovery, CRUD, list/watch, pods/log, pods/exec, pods/status, eviction.

Every request goes through :meth:`Api.handle`: request info (verb, resource, namespace, name) is parsed
as kube-apiserver does, then authentication (bearer token), request counting, forbidden rules and
injected faults apply, then the resource handler runs. Errors are ``Status`` bodies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import dataclasses
import hmac
import json
import logging
import random
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.testing._util import JSON, new_uid, random_suffix, rfc3339, truthy
from airflow_provider_k8spod.testing.apiserver import _http as web
from airflow_provider_k8spod.testing.apiserver import (
    errors,
    objects,
    patch,
    protobuf,
    quantity,
    rbac,
    reviews,
    storage,
    tables,
    tokens,
    validation,
)
from airflow_provider_k8spod.testing.apiserver.defaults import admit_pod, default_pod
from airflow_provider_k8spod.testing.apiserver.encoding import EncodedObjects
from airflow_provider_k8spod.testing.apiserver.errors import ApiError
from airflow_provider_k8spod.testing.apiserver.faults import FaultRule
from airflow_provider_k8spod.testing.apiserver.remotecommand import (
    PROTOCOLS,
    ExecOptions,
    send_error_and_close,
    serve_exec,
)
from airflow_provider_k8spod.testing.apiserver.selectors import (
    FIELD_EXTRACTORS,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    supported_fields,
)
from airflow_provider_k8spod.testing.apiserver.store import Change, WatchClose, WatchError, WatchItem
from airflow_provider_k8spod.testing.node import podstatus
from airflow_provider_k8spod.testing.node.logs import LogOptions, follow, since_option
from airflow_provider_k8spod.testing.node.runtime import DEFAULT_PATH, ExecutableNotFound

if TYPE_CHECKING:
    from airflow_provider_k8spod.testing.server import ClusterServer

SUBRESOURCES = {
    "pods": ("log", "exec", "status", "eviction", "attach", "portforward", "binding", "ephemeralcontainers"),
    "namespaces": ("status", "finalize"),
    "nodes": ("status", "proxy"),
    "persistentvolumeclaims": ("status",),
    "persistentvolumes": ("status",),
    "serviceaccounts": ("token",),
}
MAX_BODY = 3 * 1024 * 1024
STREAMING_SUBRESOURCES = ("exec", "attach", "portforward")

log = logging.getLogger(__name__)


@dataclass
class RequestInfo:
    method: str
    path: str
    is_resource: bool
    verb: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str | None = None
    name: str | None = None
    api_group: str = ""
    user: rbac.UserInfo | None = None

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def stats_key(self) -> str:
        return f"{self.verb} {self.full_resource}"


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Turn a request into (verb, resource, subresource, namespace, name) like kube-apiserver."""
    parts = [p for p in path.split("/") if p]
    group = ""
    if len(parts) > 2 and parts[0] == "api" and parts[1] == "v1":
        rest = parts[2:]
    elif len(parts) > 3 and parts[0] == "apis":
        served = objects.API_GROUPS.get(parts[1])
        if served is not None and served[0] != parts[2]:
            return RequestInfo(method, path, False)
        group, rest = parts[1], parts[3:]
    else:
        return RequestInfo(method, path, False)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace = rest[1]
        rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        return RequestInfo(method, path, False)
    watch = truthy(query.get("watch"))
    if method in ("GET", "HEAD"):
        if subresource == "exec":
            verb = "create"
        elif watch:
            verb = "watch"
        else:
            verb = "get" if name else "list"
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(method, path, True, verb, resource, subresource, namespace, name, group)


def _encoded_response(data: bytes) -> web.Response:
    return web.Response(body=data + b"\n", status=200, content_type="application/json")


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def error_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code, err.headers)


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from exc


class StreamCutter:
    """Writes a streaming body; when a reset_stream fault applies, cuts the connection after N bytes."""

    def __init__(self, request: web.Request, response: web.StreamResponse, rule: FaultRule | None) -> None:
        self.request = request
        self.response = response
        self.left = rule.after_bytes if rule is not None else None
        self.cut = False

    async def write(self, data: bytes) -> bool:
        if self.cut:
            return False
        if self.left is not None and len(data) >= self.left:
            head = data[: self.left]
            if head:
                await self.response.write(head)
            self.cut = True
            await asyncio.sleep(0.05)
            self.request.abort()
            return False
        if self.left is not None:
            self.left -= len(data)
        await self.response.write(data)
        return True


class Api:
    def __init__(self, srv: ClusterServer) -> None:
        self.srv = srv
        self.encoded = EncodedObjects()
        #: Requests being answered (streams included), for faults that cut open connections.
        self.in_flight: dict[web.Request, RequestInfo] = {}

    def cut_connections(self, rule: FaultRule) -> int:
        """Drop the connection of every request being answered that ``rule`` matches (an open watch, log
        follow or exec session included); returns how many were cut."""
        cut = 0
        for request, info in list(self.in_flight.items()):
            if rule.matches(info.verb, info.full_resource, info.namespace, info.name):
                request.abort()
                cut += 1
        return cut

    # ----------------------------------------------------------------------------------------- entry

    async def handle(self, request: web.Request) -> web.AnyResponse:
        path = request.path
        if path.startswith("/_local/"):
            return await self.srv.admin.handle(request)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok", content_type="text/plain")
        user = self._authenticate(request)
        if user is None:
            return error_response(errors.unauthorized())
        info = parse_request_info(request.method, path, request.query)
        try:
            user = self._impersonate(user, request)
            attrs = _attributes(user, info, request.query)
            if not info.is_resource:
                self._authorize(attrs)
                return self._non_resource(request)
            self.srv.stats[info.stats_key] += 1
            if self.srv.faults.is_forbidden(info.verb, info.full_resource, info.namespace):
                raise _forbidden(attrs, "")
            if info.subresource in STREAMING_SUBRESOURCES and info.method in ("GET", "HEAD"):
                # A websocket upgrade is a GET: authorized as "get", then (Kubernetes >= 1.35, KEP-4006)
                # also as "create", which a POST (SPDY) needs alone. Roles tested here work on every version.
                self._authorize(dataclasses.replace(attrs, verb="get"))
            self._authorize(attrs)
            info.user = user
            if self.srv.faults.take("unreachable", info.verb, info.full_resource, info.namespace, info.name):
                request.abort()  # no answer at all: the client sees its connection reset
                raise ConnectionResetError("the API server is unreachable (injected fault)")
            delay = self.srv.faults.take("latency", info.verb, info.full_resource, info.namespace, info.name)
            if delay is not None:
                await asyncio.sleep(delay.seconds)
            failure = self.srv.faults.take("fail", info.verb, info.full_resource, info.namespace, info.name)
            if failure is not None:
                raise errors.injected(failure.status, failure.message, failure.retry_after)
            self.in_flight[request] = info
            try:
                response = await self._dispatch(request, info)
            finally:
                self.in_flight.pop(request, None)
            if isinstance(response, web.Response) and response.status < 400:
                # A request that took effect but whose answer is lost (a create the client cannot know
                # happened): a reset_stream rule on a verb that is not streamed cuts before the answer.
                lost = self.srv.faults.take(
                    "reset_stream", info.verb, info.full_resource, info.namespace, info.name
                )
                if lost is not None:
                    request.abort()
                    raise ConnectionResetError("the answer is lost (injected fault)")
            return response
        except ApiError as err:
            return error_response(err)
        except SelectorError as err:
            return error_response(errors.bad_request(str(err)))
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug here must still answer like an API server, and be visible
            log.exception("%s %s failed", request.method, path)
            if request.response_started:
                raise
            return error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))

    def _authenticate(self, request: web.Request) -> rbac.UserInfo | None:
        """The admin (the kubeconfig's token, in ``system:masters``) or a service account (its token)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if hmac.compare_digest(token.encode(), self.srv.token.encode()):
            return rbac.UserInfo(self.srv.user, (rbac.MASTERS, rbac.AUTHENTICATED))
        return self.srv.tokens.authenticate(token, self.srv.store.get)

    def _impersonate(self, user: rbac.UserInfo, request: web.Request) -> rbac.UserInfo:
        """``Impersonate-User``/``-Group`` (kubectl ``--as``/``--as-group``), allowed by the ``impersonate``
        verb on ``users``, ``groups`` or ``serviceaccounts`` as the real impersonation filter checks it."""
        names = request.headers.getall("Impersonate-User")
        groups = [g for value in request.headers.getall("Impersonate-Group") for g in [value.strip()] if g]
        uid = request.headers.get("Impersonate-Uid").strip()
        extra: dict[str, list[str]] = {}
        for header, value in request.headers.items():
            if header.lower().startswith("impersonate-extra-"):
                key = urllib.parse.unquote(header[len("impersonate-extra-") :]).lower()
                extra.setdefault(key, []).append(value.strip())
        if not names:
            if groups or uid or extra:
                raise errors.bad_request("requested impersonation of groups, a UID or extras without a user")
            return user
        name = names[0].strip()
        auth_group = "authentication.k8s.io"
        checks: list[tuple[str, str, str, str, str]] = []  # resource, subresource, group, namespace, name
        if name.startswith(rbac.SA_PREFIX) and name.count(":") == 3:
            _, _, sa_namespace, sa_name = name.split(":")
            checks.append(("serviceaccounts", "", "", sa_namespace, sa_name))
            if not groups:
                groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}"]
        else:
            checks.append(("users", "", "", "", name))
        checks += [("groups", "", "", "", group) for group in groups]
        if uid:
            checks.append(("uids", "", auth_group, "", uid))
        checks += [("userextras", key, auth_group, "", v) for key, values in extra.items() for v in values]
        for resource, sub, group, namespace, target in checks:
            self._authorize(
                rbac.Attributes(
                    user,
                    "impersonate",
                    namespace=namespace,
                    api_group=group,
                    resource=resource,
                    subresource=sub,
                    name=target,
                )
            )
        if name != "system:anonymous" and not {rbac.AUTHENTICATED, "system:unauthenticated"} & set(groups):
            groups.append(rbac.AUTHENTICATED)
        return rbac.UserInfo(name, tuple(groups), uid, extra)

    def _authorize(self, attrs: rbac.Attributes) -> None:
        decision = rbac.authorize(self.srv.policy, attrs)
        if not decision.allowed:
            raise _forbidden(attrs, decision.reason)

    def _non_resource(self, request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        if path == "/version":
            return json_response(objects.KUBE_VERSION)
        if path == "/api":
            return json_response(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.srv.port}"}
                    ],
                }
            )
        if path == "/api/v1":
            return json_response(objects.api_resource_list())
        if path == "/apis":
            return json_response(objects.api_group_list())
        parts = path.split("/")[2:]
        if len(parts) == 1 and (group := objects.api_group(parts[0])) is not None:
            return json_response(group)
        if len(parts) == 2 and (resources := objects.group_resource_list(parts[0], parts[1])) is not None:
            return json_response(resources)
        raise errors.path_not_found()

    async def _dispatch(self, request: web.Request, info: RequestInfo) -> web.AnyResponse:
        resource = info.resource
        served = objects.resource_info(info.api_group, resource)
        if served is None:
            raise errors.path_not_found()
        if not served["namespaced"] and info.namespace is not None:
            raise errors.path_not_found()
        if info.api_group in ("authorization.k8s.io", "authentication.k8s.io"):
            if info.verb != "create" or info.name or info.subresource:
                raise errors.method_not_allowed()
            assert info.user is not None
            body = await self._body(request)
            return json_response(
                reviews.review(self.srv.policy, info.user, info.namespace, resource, body), 201
            )
        if info.subresource and info.subresource not in SUBRESOURCES.get(resource, ()):
            raise errors.path_not_found()
        if info.subresource:
            return await self._subresource(request, info)
        if info.verb in ("list", "watch"):
            return await self._list_or_watch(request, info)
        if served["namespaced"] and info.namespace is None:
            # Cluster-wide paths of namespaced resources only support list/watch.
            raise errors.method_not_allowed()
        if info.verb == "get":
            return self._get(request, info)
        if info.verb == "create":
            if info.name:
                raise errors.method_not_allowed()
            return await self._create(request, info)
        if info.verb in ("update", "patch"):
            if not info.name:
                raise errors.method_not_allowed()
            return await self._modify(request, info)
        if info.verb == "delete":
            return await self._delete(request, info)
        if info.verb == "deletecollection":
            return await self._delete_collection(request, info)
        raise errors.method_not_allowed()

    # ------------------------------------------------------------------------------------------ reads

    def _require_namespace(self, namespace: str | None) -> None:
        if namespace is not None and self.srv.store.get("namespaces", "", namespace) is None:
            raise errors.not_found("namespaces", namespace)

    def _lookup(self, info: RequestInfo) -> JSON:
        assert info.name is not None
        obj = self.srv.store.get(info.resource, info.namespace or "", info.name)
        if obj is None:
            raise errors.not_found(info.resource, info.name, info.api_group)
        return obj

    def _get(self, request: web.Request, info: RequestInfo) -> web.Response:
        obj = self._lookup(info)
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(
                tables.to_table(
                    info.resource,
                    [obj],
                    obj["metadata"]["resourceVersion"],
                    request.query.get("includeObject", "Metadata"),
                )
            )
        return _encoded_response(self.encoded.with_kind(objects.kind_of(info.resource), obj))

    def _selectors(self, request: web.Request, resource: str) -> tuple[Any, Any]:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), supported_fields(resource))
        return labels, fields

    async def _list_or_watch(self, request: web.Request, info: RequestInfo) -> web.AnyResponse:
        if info.name:
            # A watch on a single object: /namespaces/ns/pods/name?watch=true.
            field = f"metadata.name={info.name}"
            existing = request.query.get("fieldSelector")
            query = dict(request.query)
            query["fieldSelector"] = f"{existing},{field}" if existing else field
        else:
            query = dict(request.query)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), supported_fields(info.resource))
        if info.verb == "watch":
            return await self._watch(request, info, labels, fields, query)
        store = self.srv.store
        items = [
            o
            for o in store.list(info.resource, info.namespace)
            if labels.matches((o.get("metadata") or {}).get("labels"))
            and (not fields.requirements or fields.matches(_fields(info.resource, o)))
        ]
        rv = str(store.rv)
        extra: JSON = {}
        limit = _int_param(query, "limit")
        token = query.get("continue")
        if token:
            try:
                state = json.loads(base64.b64decode(token))
                start = tuple(state["start"])
            except (ValueError, KeyError, binascii.Error) as exc:
                raise errors.bad_request(f"continue key is not valid: {exc}") from exc
            items = [o for o in items if _key(o) > start]
        if limit is not None and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = _key(items[-1])
            extra["continue"] = base64.b64encode(
                json.dumps({"rv": rv, "start": list(last)}).encode()
            ).decode()
            extra["remainingItemCount"] = remaining
        if tables.wants_table(request.headers.get("Accept", "")):
            return json_response(
                tables.to_table(info.resource, items, rv, query.get("includeObject", "Metadata"), extra)
            )
        kind = objects.kind_of(info.resource)
        return _encoded_response(self.encoded.list_of(kind, items, {"resourceVersion": rv, **extra}))

    async def _watch(
        self, request: web.Request, info: RequestInfo, labels: Any, fields: Any, query: Mapping[str, str]
    ) -> web.AnyResponse:
        store = self.srv.store
        timings = self.srv.config.timings
        rv_text = query.get("resourceVersion") or ""
        send_initial = truthy(query.get("sendInitialEvents"))
        since: int | None
        if rv_text in ("", "0") or send_initial:
            since = None
        else:
            try:
                since = int(rv_text)
            except ValueError as exc:
                raise errors.bad_request(f'invalid resource version "{rv_text}"') from exc
        timeout = _int_param(query, "timeoutSeconds")
        if timeout is None or timeout <= 0:
            base = timings.default_watch_timeout_seconds
            timeout_s = base * (1 + random.random())
        else:
            timeout_s = float(timeout)
        bookmarks = truthy(query.get("allowWatchBookmarks"))
        cut_rule = self.srv.faults.take(
            "reset_stream", "watch", info.full_resource, info.namespace, info.name
        )
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        writer = StreamCutter(request, response, cut_rule)
        kind = objects.kind_of(info.resource)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            watcher = store.watch(info.resource, info.namespace, labels, fields, since)
        except ApiError as err:
            await writer.write(_event_line("ERROR", err.status()))
            await _finish(response)
            return response
        try:
            if send_initial:
                initial = bytearray()
                for _ in range(watcher.queue.qsize()):
                    item = watcher.queue.get_nowait()
                    if isinstance(item, Change):
                        initial += self.encoded.watch_event(item.type, kind, item.obj)
                if bookmarks:
                    mark = _bookmark(info.resource, str(store.rv))
                    mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                    initial += _event_line("BOOKMARK", mark)
                if initial and not await writer.write(bytes(initial)):
                    return response
            next_bookmark = loop.time() + timings.bookmark_interval_seconds
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                queue = watcher.queue
                try:
                    item = queue.get_nowait() if queue.qsize() else await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        next_bookmark = loop.time() + timings.bookmark_interval_seconds
                        if not await writer.write(
                            _event_line("BOOKMARK", _bookmark(info.resource, str(store.rv)))
                        ):
                            return response
                    continue
                # Everything queued meanwhile goes out in one write: one event per write (each a few
                # event-loop turns) fell behind by seconds while hundreds of pods were starting.
                data, end = _event_lines(self.encoded, kind, item, queue)
                if data and not await writer.write(data):
                    return response
                if end:
                    break
        except (ConnectionError, asyncio.CancelledError):
            raise
        finally:
            store.unwatch(watcher)
        await _finish(response)
        return response

    # ------------------------------------------------------------------------------------------ writes

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise ApiError(413, "Request entity too large: limit is 3145728")
        content_type = request.headers.get("Content-Type", "application/json")
        if "yaml" in content_type:
            import yaml

            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from exc
        if protobuf.MEDIA_TYPE in content_type:
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise ApiError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/json, application/yaml ({exc})",
                    "UnsupportedMediaType",
                ) from exc
        try:
            return json.loads(raw or b"null", parse_float=quantity.JSONNumber)
        except ValueError as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _decode_object(self, info: RequestInfo, body: Any) -> JSON:
        kind = objects.kind_of(info.resource)
        version = objects.api_version_of(info.resource)
        package = "core" if version == "v1" else version.split("/")[0].split(".")[0]
        if not isinstance(body, dict):
            raise errors.bad_request(
                f'{kind} in version "{version.split("/")[-1]}" cannot be handled as a {kind}: json: cannot '
                f"unmarshal {type(body).__name__} into Go value of type {package}.{kind}"
            )
        if body.get("kind") and body["kind"] != kind:
            raise errors.bad_request(
                f'{body["kind"]} in version "{version.split("/")[-1]}" cannot be handled as a {kind}: no kind '
                f'"{body["kind"]}" is registered for version "{version}"'
            )
        obj = copy.deepcopy(body)
        try:
            quantity.canonicalize(info.resource, obj)
        except quantity.QuantityError as exc:
            raise errors.bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {exc}') from exc
        obj["kind"] = kind
        obj["apiVersion"] = version
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request(
                f'{kind} in version "{version.split("/")[-1]}" cannot be handled as a {kind}: metadata must be an '
                f"object"
            )
        if (objects.resource_info(info.api_group, info.resource) or {}).get("namespaced"):
            body_ns = obj["metadata"].get("namespace")
            if body_ns and body_ns != info.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            obj["metadata"]["namespace"] = info.namespace
        if info.resource == "secrets":
            _normalize_secret(obj)
        return obj

    async def _create(self, request: web.Request, info: RequestInfo) -> web.Response:
        body = await self._body(request)
        obj = self._decode_object(info, body)
        self._require_namespace(info.namespace)
        if info.namespace is not None:
            ns_obj = self.srv.store.get("namespaces", "", info.namespace)
            if ns_obj is not None and ns_obj["metadata"].get("deletionTimestamp"):
                raise ApiError(
                    403,
                    f'{info.resource} "{obj["metadata"].get("name", "")}" is forbidden: unable '
                    f"to create new content in namespace {info.namespace} because it is being "
                    f"terminated",
                    "Forbidden",
                    {"name": obj["metadata"].get("name", ""), "kind": info.resource},
                )
        meta = obj["metadata"]
        given_name = str(meta.get("name") or meta.get("generateName") or "")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{random_suffix()}"
        kind = objects.kind_of(info.resource)
        if info.resource == "pods":
            default_pod(obj)
            if isinstance(obj.get("spec"), dict) and isinstance(obj["spec"].get("containers"), list):
                account = self._pod_service_account(obj, given_name)
                timings = self.srv.config.timings
                admit_pod(
                    obj,
                    account,
                    not_ready_seconds=int(timings.default_not_ready_toleration_seconds),
                    unreachable_seconds=int(timings.default_unreachable_toleration_seconds),
                )
            causes = validation.validate_pod(obj)
        elif info.resource in ("configmaps", "secrets"):
            causes = validation.validate_config_data(obj, kind)
        elif info.resource == "namespaces":
            causes = validation.validate_namespace(obj)
        elif info.resource in ("events", "serviceaccounts"):
            causes = validation.validate_object_meta(meta)
        elif info.resource == "persistentvolumeclaims":
            storage.admit_claim(obj, self.srv.store.list("storageclasses"))
            causes = storage.validate_claim(obj)
        elif info.resource == "persistentvolumes":
            storage.admit_volume(obj)
            causes = storage.validate_volume(obj)
        elif info.resource == "storageclasses":
            storage.admit_class(obj)
            causes = storage.validate_class(obj)
        elif info.resource in ("roles", "clusterroles"):
            causes = rbac.validate_role(obj, info.resource == "roles")
        elif info.resource in ("rolebindings", "clusterrolebindings"):
            rbac.default_binding(obj)
            causes = rbac.validate_binding(obj, info.resource == "rolebindings")
        else:
            raise errors.method_not_allowed()
        if causes:
            raise errors.invalid(
                kind, meta.get("name") or meta.get("generateName") or "", causes, info.api_group
            )
        store = self.srv.store
        if store.get(info.resource, info.namespace or "", meta["name"]) is not None:
            raise errors.already_exists(info.resource, meta["name"], info.api_group)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = rfc3339()
        for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(transient, None)
        if info.resource == "pods":
            meta["generation"] = 1
            obj["status"] = {"phase": "Pending", "qosClass": podstatus.qos_class(obj["spec"])}
        elif info.resource == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif info.resource == "secrets":
            obj.setdefault("type", "Opaque")
        if request.query.get("dryRun") == "All":
            return json_response(obj, 201)
        created = store.create(info.resource, obj)
        if info.resource == "pods":
            self.srv.kubelet.pod_created(created)
        elif info.resource == "namespaces":
            self.srv.seed_namespace(meta["name"])
        elif info.resource == "clusterroles":
            self.srv.aggregate_cluster_roles()
            created = store.get(info.resource, "", meta["name"]) or created
        return json_response(objects.with_kind(info.resource, created), 201)

    def _pod_service_account(self, pod: JSON, pod_name: str) -> JSON:
        """ServiceAccount admission: the pod's service account (``default`` when unset) must exist."""
        spec = pod["spec"]
        name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        namespace = pod["metadata"]["namespace"]
        account = self.srv.store.get("serviceaccounts", namespace, name)
        if account is None:
            raise ApiError(
                403,
                f'pods "{pod_name}" is forbidden: error looking up service account {namespace}/{name}: '
                f'serviceaccount "{name}" not found',
                "Forbidden",
                {"name": pod_name, "kind": "pods"},
            )
        return account

    async def _modify(
        self, request: web.Request, info: RequestInfo, status_only: bool = False
    ) -> web.Response:
        current = self._lookup(info)
        body = await self._body(request)
        if info.verb == "patch":
            content_type = request.headers.get("Content-Type", patch.STRATEGIC_MERGE_PATCH)
            if "json" not in content_type and "yaml" not in content_type:
                raise ApiError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {patch.JSON_PATCH}, {patch.MERGE_PATCH}, {patch.APPLY_PATCH}, "
                    f"{patch.STRATEGIC_MERGE_PATCH}",
                    "UnsupportedMediaType",
                )
            try:
                target = patch.apply_patch(content_type, objects.with_kind(info.resource, current), body)
            except patch.PatchError as exc:
                raise ApiError(422, str(exc), "Invalid") from exc
            if not isinstance(target, dict):
                raise errors.bad_request("the patch produced an invalid object")
            rv = (target.get("metadata") or {}).get("resourceVersion")
            if (
                rv
                and rv != current["metadata"]["resourceVersion"]
                and isinstance(body, dict)
                and ((body.get("metadata") or {}).get("resourceVersion"))
            ):
                raise errors.stale_conflict(info.resource, info.name or "", info.api_group)
            updated = self._decode_object(info, target)
        else:
            updated = self._decode_object(info, body)
            rv = updated["metadata"].get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise errors.stale_conflict(info.resource, info.name or "", info.api_group)
            if updated["metadata"].get("name") != info.name:
                raise errors.bad_request(
                    f"the name of the object ({updated['metadata'].get('name')}) does not "
                    f"match the name on the URL ({info.name})"
                )
        return self._store_update(info, current, updated, status_only)

    def _store_update(
        self, info: RequestInfo, current: JSON, updated: JSON, status_only: bool
    ) -> web.Response:
        store = self.srv.store
        kind = objects.kind_of(info.resource)
        meta = updated["metadata"]
        # Fields the API server owns.
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
            else:
                meta.pop(key, None)
        if status_only:
            result = copy.deepcopy(current)
            result["status"] = updated.get("status") or {}
        elif info.resource == "pods":
            if "spec" in updated:
                default_pod(updated)
            causes = validation.validate_object_meta(meta)
            spec_causes = _pod_update_causes(current.get("spec") or {}, updated.get("spec") or {})
            causes.extend(spec_causes)
            if causes:
                raise errors.invalid(kind, info.name or "", causes)
            updated["status"] = current.get("status")
            if updated.get("spec") != current.get("spec"):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            result = updated
        elif info.resource in ("configmaps", "secrets"):
            causes = validation.validate_config_data(updated, kind)
            if causes:
                raise errors.invalid(kind, info.name or "", causes)
            if info.resource == "secrets":
                updated.setdefault("type", current.get("type", "Opaque"))
            result = updated
        elif info.resource == "nodes":
            result = copy.deepcopy(current)
            result["metadata"]["labels"] = meta.get("labels") or {}
            result["metadata"]["annotations"] = meta.get("annotations") or {}
            result["spec"] = updated.get("spec") or {}
        elif info.resource == "namespaces":
            result = copy.deepcopy(current)
            result["metadata"]["labels"] = meta.get("labels") or {}
            result["metadata"]["annotations"] = meta.get("annotations") or {}
        elif info.resource in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
            if info.resource == "persistentvolumeclaims":
                causes = storage.claim_update_causes(current, updated)
            elif info.resource == "storageclasses":
                causes = storage.class_update_causes(current, updated)
            else:
                causes = storage.validate_volume(updated)
            if causes:
                raise errors.invalid(kind, info.name or "", causes, info.api_group)
            if "status" in current:
                updated["status"] = current["status"]
            result = updated
        else:
            causes = _update_causes(info.resource, current, updated)
            if causes:
                raise errors.invalid(kind, info.name or "", causes, info.api_group)
            result = updated
        result["kind"] = kind
        result["apiVersion"] = objects.api_version_of(info.resource)
        stored = store.update(info.resource, result)
        if info.resource == "clusterroles":
            self.srv.aggregate_cluster_roles()
            stored = store.get(info.resource, "", info.name or "") or stored
        if info.resource == "nodes":
            self.srv.kubelet.reschedule_pending()
        if info.resource == "pods":
            self.srv.maybe_finish_deletion(stored)
            self.srv.kubelet.pod_updated(stored)
        return json_response(objects.with_kind(info.resource, stored))

    async def _delete(self, request: web.Request, info: RequestInfo) -> web.Response:
        current = self._lookup(info)
        options: JSON = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = json.loads(raw)
            except ValueError as exc:
                raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc
        grace = _int_param(request.query, "gracePeriodSeconds")
        if grace is None and options.get("gracePeriodSeconds") is not None:
            grace = int(options["gracePeriodSeconds"])
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
            raise errors.conflict(
                info.resource,
                info.name or "",
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object "
                f"meta: {current['metadata']['uid']}",
                info.api_group,
            )
        rv = preconditions.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                info.resource,
                info.name or "",
                f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in "
                f"object meta: {current['metadata']['resourceVersion']}",
                info.api_group,
            )
        if request.query.get("dryRun") == "All":
            return json_response(objects.with_kind(info.resource, current))
        if info.resource == "pods":
            result = self.srv.delete_pod(current, grace)
        elif info.resource == "namespaces":
            result = self.srv.delete_namespace(current)
        elif info.resource == "nodes":
            raise errors.method_not_allowed()
        elif current["metadata"].get("finalizers"):
            result = self._mark_deleted(info.resource, current)
        else:
            result = self.srv.store.delete(info.resource, info.namespace or "", info.name or "") or current
            if info.resource == "events":
                self.srv.recorder.forget(info.namespace or "", info.name or "")
            if info.resource == "clusterroles":
                self.srv.aggregate_cluster_roles()
            namespace = self.srv.store.get("namespaces", "", info.namespace or "")
            if info.name == "default" and namespace and not namespace["metadata"].get("deletionTimestamp"):
                self.srv.seed_namespace(info.namespace or "")  # the ServiceAccounts controller recreates it
        # Registries without ReturnDeletedObject answer a Status (storageclasses, PVCs and PVs return the object).
        if (
            info.resource in ("configmaps", "secrets", "events")
            or info.api_group == "rbac.authorization.k8s.io"
        ):
            details: JSON = {"name": info.name}
            if info.api_group:
                details["group"] = info.api_group
            details.update(kind=info.resource, uid=current["metadata"]["uid"])
            return json_response(errors.success_status(details))
        return json_response(objects.with_kind(info.resource, result))

    async def _delete_collection(self, request: web.Request, info: RequestInfo) -> web.Response:
        labels, fields = self._selectors(request, info.resource)
        grace = _int_param(request.query, "gracePeriodSeconds")
        deleted = []
        for obj in self.srv.store.list(info.resource, info.namespace):
            if not labels.matches(obj["metadata"].get("labels")):
                continue
            if fields.requirements and not fields.matches(_fields(info.resource, obj)):
                continue
            if info.resource == "pods":
                deleted.append(self.srv.delete_pod(obj, grace))
            elif obj["metadata"].get("finalizers"):
                deleted.append(self._mark_deleted(info.resource, obj))
            else:
                deleted.append(
                    self.srv.store.delete(info.resource, info.namespace or "", obj["metadata"]["name"]) or obj
                )
        if info.resource == "clusterroles":
            self.srv.aggregate_cluster_roles()
        return json_response(objects.list_object(info.resource, deleted, str(self.srv.store.rv)))

    def _mark_deleted(self, resource: str, obj: JSON) -> JSON:
        """Deletion of an object with finalizers: it stays, terminating, until its controllers let it go."""
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        updated = copy.deepcopy(obj)
        updated["metadata"]["deletionTimestamp"] = rfc3339()
        updated["metadata"]["deletionGracePeriodSeconds"] = 0
        return self.srv.store.update(resource, updated)

    # ---------------------------------------------------------------------------------- subresources

    async def _subresource(self, request: web.Request, info: RequestInfo) -> web.AnyResponse:
        sub = info.subresource
        if info.resource == "serviceaccounts" and sub == "token":
            if info.verb != "create":
                raise errors.method_not_allowed()
            account = self._lookup(info)
            body = await self._body(request)
            return json_response(
                tokens.token_request(self.srv.tokens, account, body, self.srv.store.get), 201
            )
        if info.resource != "pods" or sub == "status":
            if sub != "status":
                raise errors.path_not_found()
            if info.verb == "get":
                return self._get(request, info)
            if info.verb in ("update", "patch"):
                return await self._modify(request, info, status_only=True)
            raise errors.method_not_allowed()
        if sub == "log":
            if info.verb != "get":
                raise errors.method_not_allowed()
            return await self._logs(request, info)
        if sub == "exec":
            return await self._exec(request, info)
        if sub == "eviction":
            if info.verb != "create":
                raise errors.method_not_allowed()
            return await self._eviction(request, info)
        raise errors.path_not_found()

    def _pick_container(self, pod: JSON, requested: str) -> str:
        spec = pod.get("spec") or {}
        containers = [str(c["name"]) for c in spec.get("containers") or []]
        inits = [str(c["name"]) for c in spec.get("initContainers") or []]
        name = pod["metadata"]["name"]
        if not requested:
            if len(containers) == 1:
                return containers[0]
            message = (
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
            if inits:
                message += f" or one of the init containers: [{' '.join(inits)}]"
            raise errors.bad_request(message)
        if requested not in containers and requested not in inits:
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested

    async def _logs(self, request: web.Request, info: RequestInfo) -> web.AnyResponse:
        pod = self._lookup(info)
        query = request.query
        container = self._pick_container(pod, query.get("container", ""))
        since_seconds = _int_param(query, "sinceSeconds")
        tail = _int_param(query, "tailLines")
        limit = _int_param(query, "limitBytes")
        option_causes = []
        if query.get("sinceTime") and since_seconds is not None:
            option_causes.append(
                validation.forbidden_field(
                    "", "at most one of `sinceTime` or `sinceSeconds` may be specified"
                )
            )
        if since_seconds is not None and since_seconds < 1:
            option_causes.append(
                validation.invalid_value("sinceSeconds", since_seconds, "must be greater than 0")
            )
        if tail is not None and tail < 0:
            option_causes.append(
                validation.invalid_value("tailLines", tail, "must be greater than or equal to 0")
            )
        if limit is not None and limit < 1:
            option_causes.append(validation.invalid_value("limitBytes", limit, "must be greater than 0"))
        if option_causes:
            raise errors.invalid("PodLogOptions", "", option_causes)
        try:
            since_ns = since_option(query.get("sinceTime"), str(since_seconds) if since_seconds else None)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from exc
        stream = query.get("stream") or "All"
        if stream not in ("All", "Stdout", "Stderr"):
            raise errors.invalid(
                "PodLogOptions", "", [validation.not_supported("stream", stream, ["All", "Stdout", "Stderr"])]
            )
        opts = LogOptions(
            stream=stream,
            timestamps=truthy(query.get("timestamps")),
            since_ns=since_ns,
            tail_lines=tail,
            limit_bytes=limit,
            follow=truthy(query.get("follow")),
        )
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return web.Response(body=b"", content_type="text/plain")
        worker = self.srv.kubelet.workers.get(pod["metadata"]["uid"])
        if node in self.srv.kubelet.lost_nodes:
            raise errors.internal_error(
                f'Get "https://127.0.0.1:10250/containerLogs/{info.namespace}/{info.name}/{container}": dial tcp '
                f"127.0.0.1:10250: connect: connection refused"
            )
        runner = worker.runner(container) if worker is not None else None
        name = pod["metadata"]["name"]
        if runner is None:
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        logfile = self._log_file(runner, name, truthy(query.get("previous")))
        cut_rule = self.srv.faults.take("reset_stream", "get", "pods/log", info.namespace, info.name)
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        writer = StreamCutter(request, response, cut_rule)
        async for chunk in follow(logfile, opts):
            if not await writer.write(chunk):
                return response
        await _finish(response)
        return response

    def _log_file(self, runner: Any, pod_name: str, previous: bool) -> Any:
        """The kubelet's validateContainerLogStatus: which container instance's log to read."""
        status = runner.status
        state = status["state"]
        last = (status.get("lastState") or {}).get("terminated")
        container = runner.name
        if previous:
            if not last or not last.get("containerID"):
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{pod_name}" not found'
                )
            cid = str(last["containerID"]).removeprefix("containerd://")
        elif "running" in state:
            cid = runner.current_container_id()
        elif "terminated" in state:
            cid = str(state["terminated"].get("containerID", "")).removeprefix("containerd://")
            if not cid:
                if last and last.get("containerID"):
                    cid = str(last["containerID"]).removeprefix("containerd://")
                else:
                    raise errors.bad_request(f'container "{container}" in pod "{pod_name}" is terminated')
        elif last:
            cid = str(last.get("containerID", "")).removeprefix("containerd://")
        elif "waiting" in state:
            reason = state["waiting"].get("reason", "")
            if reason == "ErrImagePull":
                reason = "image can't be pulled"
            elif reason == "ImagePullBackOff":
                reason = "trying and failing to pull image"
            raise errors.bad_request(
                f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}'
            )
        else:
            raise errors.bad_request(
                f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet'
            )
        logfile = runner.log_for(cid)
        if logfile is None:
            raise errors.bad_request(
                f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet'
            )
        return logfile

    async def _exec(self, request: web.Request, info: RequestInfo) -> web.AnyResponse:
        pod = self._lookup(info)
        query = request.query
        container = self._pick_container(pod, query.get("container", ""))
        command = query.getall("command", [])
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if phase in podstatus.TERMINAL_PHASES:
            raise errors.bad_request(
                f"cannot exec into a container in a completed pod; current phase is {phase}"
            )
        if not (pod.get("spec") or {}).get("nodeName"):
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        if not command:
            raise errors.bad_request("you must specify at least 1 command")
        options = ExecOptions(
            command=list(command),
            container=container,
            stdin=truthy(query.get("stdin")),
            stdout=truthy(query.get("stdout")),
            stderr=truthy(query.get("stderr")),
            tty=truthy(query.get("tty")),
        )
        if not (options.stdin or options.stdout or options.stderr):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.bad_request("Upgrade request required")
        kubelet = self.srv.kubelet
        if (pod.get("spec") or {}).get("nodeName") in kubelet.lost_nodes:
            raise errors.internal_error(
                "error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused"
            )
        worker = kubelet.workers.get(pod["metadata"]["uid"])
        runner = worker.runner(container) if worker is not None else None
        process = runner.process if runner is not None else None
        if runner is None or process is None or not process.running:
            raise ApiError(500, f'container not found ("{container}")', "InternalError")
        cut_rule = self.srv.faults.take("reset_stream", "create", "pods/exec", info.namespace, info.name)
        ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, max_msg_size=0)
        requested = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        if requested and not any(p in PROTOCOLS for p in requested):
            raise errors.bad_request(
                f"requested protocol(s) are not supported: {requested}; supports {list(PROTOCOLS)}"
            )
        await ws.prepare(request)
        try:
            exec_proc, master = await self.srv.runtime.exec(
                process,
                list(command),
                dict(runner.env or {"PATH": DEFAULT_PATH}),
                runner.cwd or "/",
                stdin=options.stdin,
                tty=options.tty,
            )
        except ExecutableNotFound as exc:
            message = (
                f"error executing command in container: failed to exec in container: failed to start exec "
                f'"{random_suffix(12)}": OCI runtime exec failed: exec failed: unable to start container process: '
                f"{exc}: unknown"
            )
            await send_error_and_close(ws, request, errors.internal_error(message).status())
            return ws
        await serve_exec(ws, request, options, exec_proc, master, cut_rule.after_bytes if cut_rule else None)
        process.exec_procs.discard(exec_proc)
        return ws

    async def _eviction(self, request: web.Request, info: RequestInfo) -> web.Response:
        pod = self._lookup(info)
        body = await self._body(request)
        grace = None
        if isinstance(body, dict):
            grace = (body.get("deleteOptions") or {}).get("gracePeriodSeconds")
        self.srv.add_condition(
            pod,
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "EvictionByEvictionAPI",
                "message": "Eviction API: evicting",
            },
        )
        pod = self._lookup(info)
        self.srv.delete_pod(pod, grace)
        return json_response(errors.success_status(), 201)


# -------------------------------------------------------------------------------------------------------


def _attributes(user: rbac.UserInfo, info: RequestInfo, query: Mapping[str, str]) -> rbac.Attributes:
    """What the authorizer is asked; a list or watch selecting one name by field is about that name."""
    if not info.is_resource:
        return rbac.Attributes(user, info.method.lower(), resource_request=False, path=info.path)
    name = info.name or ""
    if not name and info.verb in ("list", "watch"):
        for term in (query.get("fieldSelector") or "").split(","):
            key, sep, value = term.partition("=")
            if sep and key.strip() == "metadata.name" and value.lstrip("=").strip():
                name = value.lstrip("=").strip()
    return rbac.Attributes(
        user,
        info.verb,
        namespace=info.namespace or "",
        api_group=info.api_group,
        resource=info.resource,
        subresource=info.subresource,
        name=name,
    )


def _forbidden(attrs: rbac.Attributes, reason: str) -> ApiError:
    message, details = rbac.forbidden_message(attrs, reason)
    return ApiError(403, message, "Forbidden", details)


def _key(obj: JSON) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _fields(resource: str, obj: JSON) -> dict[str, str]:
    return FIELD_EXTRACTORS[resource](obj)


def _event_line(event_type: str, obj: JSON) -> bytes:
    return (
        json.dumps({"type": event_type, "object": obj}, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n"
    )


WATCH_BATCH = 500


def _event_lines(
    encoded: EncodedObjects, kind: str, first: WatchItem, queue: asyncio.Queue[WatchItem]
) -> tuple[bytes, bool]:
    """``first`` and up to WATCH_BATCH-1 queued items as watch lines; True when the watch ends there."""
    data = bytearray()
    item: WatchItem | None = first
    taken = 1
    while item is not None:
        if isinstance(item, WatchClose):
            return bytes(data), True
        if isinstance(item, WatchError):
            data += _event_line("ERROR", item.status)
            return bytes(data), True
        data += encoded.watch_event(item.type, kind, item.obj)
        item = queue.get_nowait() if queue.qsize() and taken < WATCH_BATCH else None
        taken += 1
    return bytes(data), False


def _bookmark(resource: str, rv: str) -> JSON:
    mark: JSON = {
        "kind": objects.kind_of(resource),
        "apiVersion": objects.api_version_of(resource),
        "metadata": {"resourceVersion": rv, "creationTimestamp": None},
    }
    if resource == "pods":
        mark["spec"] = {"containers": None}
        mark["status"] = {}
    return mark


async def _finish(response: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()


def _normalize_secret(obj: JSON) -> None:
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise errors.bad_request('Secret in version "v1" cannot be handled as a Secret: data must be a map')
    data = dict(data or {})
    for key, value in data.items():
        if value is None:
            data[key] = ""
            continue
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.bad_request(
                f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                f"data at input byte 0: {exc}"
            ) from exc
    string_data = obj.pop("stringData", None) or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data or "data" in obj:
        obj["data"] = data


def _update_causes(resource: str, current: JSON, updated: JSON) -> list[Any]:
    """Validation of an update of a ServiceAccount or an RBAC object."""
    if resource in ("roles", "clusterroles"):
        return rbac.validate_role(updated, resource == "roles")
    if resource in ("rolebindings", "clusterrolebindings"):
        rbac.default_binding(updated)
        causes = rbac.validate_binding(updated, resource == "rolebindings")
        return causes + rbac.role_ref_changed(current, updated)
    if resource == "serviceaccounts":
        return validation.validate_object_meta(updated["metadata"])
    return []


_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_update_causes(old: JSON, new: JSON) -> list[Any]:
    def masked(spec: JSON) -> JSON:
        copy_spec = copy.deepcopy(spec)
        for key in _MUTABLE_POD_FIELDS:
            copy_spec.pop(key, None)
        for section in ("containers", "initContainers"):
            for container in copy_spec.get(section) or []:
                container.pop("image", None)
        return copy_spec

    causes: list[Any] = []
    before, after = old.get("activeDeadlineSeconds"), new.get("activeDeadlineSeconds")
    # ValidatePodUpdate: a deadline may be set or lowered, never raised or removed.
    if before is not None and after is None:
        causes.append(
            validation.invalid_value(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )
    elif isinstance(before, int) and isinstance(after, int) and after > before:
        causes.append(
            validation.invalid_value(
                "spec.activeDeadlineSeconds", after, "must be less than or equal to previous value"
            )
        )
    if masked(old) == masked(new):
        return causes
    return [
        *causes,
        validation.forbidden_field(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
            "previously negative)",
        ),
    ]
