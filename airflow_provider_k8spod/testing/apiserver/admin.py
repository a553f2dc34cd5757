"""The admin endpoint (``/_local/...``): statistics, fault injection, nodes, images, and read helpers.

Authenticated with the same bearer token as the API. Admin requests are never counted in the stats and
are not subject to faults or forbidden rules. :class:`~airflow_provider_k8spod.testing.LocalCluster`
is a client of this endpoint; see docs/testing.md for the routes.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver import _http as web
from airflow_provider_k8spod.testing.apiserver.faults import FaultRule, ForbiddenRule
from airflow_provider_k8spod.testing.config import Image, Node

if TYPE_CHECKING:
    from airflow_provider_k8spod.testing.server import ClusterServer


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


class Admin:
    def __init__(self, srv: ClusterServer) -> None:
        self.srv = srv

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.srv.token.encode()
        ):
            return _reply({"error": "Unauthorized"}, 401)
        parts = [p for p in request.path.split("/") if p][1:]
        body: JSON = {}
        if request.method in ("POST", "PUT", "DELETE"):
            raw = await request.read()
            if raw.strip():
                try:
                    loaded = json.loads(raw)
                except ValueError:
                    return _reply({"error": "body is not JSON"}, 400)
                if isinstance(loaded, dict):
                    body = loaded
        try:
            return _reply(await self._route(request.method, parts, body, request))
        except AdminError as exc:
            return _reply({"error": exc.message}, exc.status)
        except (KeyError, ValueError, TypeError) as exc:
            return _reply({"error": f"{type(exc).__name__}: {exc}"}, 400)

    async def _route(self, method: str, parts: list[str], body: JSON, request: web.Request) -> Any:
        srv = self.srv
        match (method, parts):
            case ("GET", ["info"]):
                return {
                    "isolation": srv.mode,
                    "state_dir": srv.state_dir,
                    "url": srv.url,
                    "pid": __import__("os").getpid(),
                }
            case ("GET", ["stats"]):
                return dict(srv.stats)
            case ("POST", ["stats", "reset"]):
                srv.stats.clear()
                return {}
            case ("GET", ["faults"]):
                return [r.to_json() for r in srv.faults.rules]
            case ("POST", ["faults"]):
                rule = srv.faults.add(FaultRule.from_json(body))
                reply = rule.to_json()
                if rule.kind == "unreachable":
                    reply["cut"] = srv.api.cut_connections(rule)
                return reply
            case ("DELETE", ["faults"]):
                srv.faults.clear()
                srv.faults.forbidden.clear()
                return {}
            case ("DELETE", ["faults", rule_id]):
                if not srv.faults.remove(int(rule_id)):
                    raise AdminError(404, f"no fault rule {rule_id}")
                return {}
            case ("POST", ["forbid"]):
                srv.faults.forbid(ForbiddenRule(body["verb"], body["resource"], body.get("namespace")))
                return {}
            case ("POST", ["allow"]):
                srv.faults.allow(body.get("verb"), body.get("resource"))
                return {}
            case ("POST", ["watches", "expire"]):
                return {"closed": srv.store.expire_watchers(body.get("resource"))}
            case ("GET", ["watches"]):
                counts: dict[str, int] = {}
                for watcher in srv.store.watchers():
                    counts[watcher.resource] = counts.get(watcher.resource, 0) + 1
                return counts
            case ("POST", ["watches", "compact"]):
                srv.store.compact(body.get("resource"))
                if body.get("close_watches"):
                    return {"closed": srv.store.close_watchers(body.get("resource"))}
                return {}
            case ("GET", ["pods"]):
                return srv.store.list("pods", request.query.get("namespace") or None)
            case ("GET", ["events"]):
                return srv.store.list("events", request.query.get("namespace") or None)
            case ("GET", ["processes"]):
                return self._processes()
            case ("POST", ["pods", namespace, name, action]):
                return self._pod_action(namespace, name, action, body)
            case ("POST", ["nodes"]):
                return srv.add_node(Node.from_json(body))
            case ("DELETE", ["nodes", name]):
                if srv.store.delete("nodes", "", name) is None:
                    raise AdminError(404, f'nodes "{name}" not found')
                return {}
            case ("POST", ["nodes", name, "lose"]):
                try:
                    return {"pods": srv.lose_node(name)}
                except KeyError as exc:
                    raise AdminError(404, f'nodes "{name}" not found') from exc
            case ("POST", ["nodes", name, "restore"]):
                try:
                    srv.restore_node(name)
                except KeyError as exc:
                    raise AdminError(404, f'nodes "{name}" not found') from exc
                return {}
            case ("POST", ["images"]):
                srv.kubelet.registry.declare(Image.from_json(body))
                return {}
        raise AdminError(404, f"no admin route {method} /_local/{'/'.join(parts)}")

    def _processes(self) -> list[JSON]:
        out = []
        for worker, runner, process in self.srv.kubelet.all_processes():
            out.append(
                {
                    "namespace": worker.namespace,
                    "pod": worker.name,
                    "container": runner.name,
                    "restart_count": runner.restart_count,
                    "pid": process.init_pid() or process.proc.pid,
                    "pids": process.pids(),
                }
            )
        return out

    def _pod_action(self, namespace: str, name: str, action: str, body: JSON) -> Any:
        srv = self.srv
        pod = srv.store.get("pods", namespace, name)
        if pod is None:
            raise AdminError(404, f'pods "{name}" not found')
        if action == "delete":
            grace = body.get("grace_period_seconds")
            return srv.delete_pod(pod, None if grace is None else int(grace))
        worker = srv.kubelet.workers.get(pod["metadata"]["uid"])
        if worker is None:
            raise AdminError(409, f'pod "{name}" is not running on a node')
        container = body.get("container")
        if action in ("oom", "rotate-logs") and not container:
            names = [c["name"] for c in pod["spec"].get("containers") or []]
            if len(names) != 1:
                raise AdminError(
                    400,
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]",
                )
            container = names[0]
        if action == "evict":
            message = body.get("message") or "The node was low on resource: memory. "
            grace = body.get("grace_period_seconds")
            worker.evict(message, 1.0 if grace is None else float(grace))
            return {}
        runner = worker.runner(str(container)) if container else None
        if runner is None:
            raise AdminError(404, f"container {container} is not valid for pod {name}")
        if action == "oom":
            if not worker.oom_kill(runner):
                raise AdminError(409, f'container "{runner.name}" in pod "{name}" is not running')
            return {}
        if action == "rotate-logs":
            cid = runner.current_container_id() or runner.last_container_id()
            logfile = runner.log_for(cid)
            if logfile is None:
                raise AdminError(409, f'container "{runner.name}" in pod "{name}" has no log yet')
            logfile.rotate(stall_followers=bool(body.get("stall_followers", False)))
            return {}
        raise AdminError(404, f"unknown pod action {action!r}")
