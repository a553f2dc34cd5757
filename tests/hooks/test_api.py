"""The sans-I/O core: request building, error wording, watch decoding, exec channels."""

from __future__ import annotations

import json
import ssl

import pytest

from airflow_provider_k8spod.exceptions import (
    AlreadyExistsError,
    ApiUnavailableError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TLSVerificationError,
    UnauthorizedError,
)
from airflow_provider_k8spod.hooks import api


def status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
    ).encode()


@pytest.mark.parametrize(
    ("request_", "code", "reason", "message", "cls", "text"),
    [
        (
            api.get_pod("p", "ns"),
            404,
            "NotFound",
            'pods "p" not found',
            NotFoundError,
            'get pod "p" in namespace "ns": 404 NotFound: pods "p" not found',
        ),
        (
            api.create_pod({"metadata": {"name": "p", "namespace": "ns"}}),
            409,
            "AlreadyExists",
            'pods "p" already exists',
            AlreadyExistsError,
            'create pod "p" in namespace "ns": 409 AlreadyExists: pods "p" already exists',
        ),
        (
            api.patch_pod_metadata("p", "ns", labels={"a": "b"}),
            409,
            "Conflict",
            "the object has been modified",
            ConflictError,
            'patch pod "p" in namespace "ns": 409 Conflict: the object has been modified',
        ),
        (
            api.pod_exec("p", "ns", ["cat"], container="c"),
            403,
            "Forbidden",
            'pods "p" is forbidden: User "sa" cannot create resource "pods/exec"',
            ForbiddenError,
            "(the service account needs RBAC verbs 'create' and 'get' on 'pods/exec')",
        ),
        (
            api.create_pod({"metadata": {"name": "Bad", "namespace": "ns"}}),
            422,
            "Invalid",
            'Pod "Bad" is invalid: metadata.name: Invalid value',
            InvalidError,
            'create pod "Bad" in namespace "ns": 422 Invalid: Pod "Bad" is invalid',
        ),
        (
            api.watch_pods("ns", resource_version="5"),
            410,
            "Expired",
            "too old resource version",
            ExpiredError,
            'watch pods in namespace "ns": 410 Expired: too old resource version',
        ),
        (
            api.get_pod("p", "ns"),
            503,
            "ServiceUnavailable",
            "etcd is down",
            ApiUnavailableError,
            'get pod "p" in namespace "ns": 503 ServiceUnavailable: etcd is down',
        ),
    ],
)
def test_errors_name_operation_pod_namespace_and_api_reason(request_, code, reason, message, cls, text):
    from kubernetes.client.exceptions import ApiException

    error = api.api_error(request_, code, status(code, reason, message))
    assert isinstance(error, cls)
    assert type(error).__name__ == cls.__name__
    # Also upstream's exception type, filled as ApiException fills it; str() stays our message. (A 410 is
    # the hooks' internal signal to relist.)
    assert isinstance(error, ApiException) is (cls is not ExpiredError)
    assert error.body == status(code, reason, message).decode()
    assert text in str(error)
    assert (error.status, error.reason, error.api_message) == (code, reason, message)


@pytest.mark.parametrize(
    ("conn_id", "named"),
    [
        ("prod_cluster", "the credentials of connection 'prod_cluster' were not accepted"),
        (None, "the credentials of no connection (in-cluster or the local kubeconfig) were not accepted"),
    ],
)
def test_unauthorized_names_the_connection(conn_id, named):
    error = api.api_error(
        api.get_pod("p", "ns"), 401, status(401, "Unauthorized", "Unauthorized"), conn_id=conn_id
    )
    assert isinstance(error, UnauthorizedError)
    assert str(error).startswith('get pod "p" in namespace "ns": 401 Unauthorized: Unauthorized (' + named)


def _verify_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    return error


def _chained() -> BaseException:
    try:
        try:
            raise _verify_error()
        except ssl.SSLError as inner:
            raise ConnectionError("handshake failed") from inner
    except ConnectionError as outer:
        return outer


def _aiohttp_error() -> BaseException:
    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey("10.0.0.1", 6443, True, True, None, None, None)
    return aiohttp.ClientConnectorCertificateError(connection_key=key, certificate_error=_verify_error())


def _urllib3_error() -> BaseException:
    import urllib3

    return urllib3.exceptions.SSLError(_verify_error())


@pytest.mark.parametrize(
    ("make", "verification"),
    [
        (_verify_error, True),  # websocket-client raises it as it is
        (_urllib3_error, True),
        (_aiohttp_error, True),
        (_chained, True),
        (lambda: ConnectionRefusedError(111, "Connection refused"), False),
        (lambda: TimeoutError(), False),
        (lambda: ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), False),
    ],
)
def test_only_a_certificate_verification_failure_is_not_retried(make, verification):
    error = api.connection_error(api.list_pods("ns"), make(), conn_id="prod_cluster")
    if verification:
        assert isinstance(error, TLSVerificationError)
        assert str(error) == (
            'list pods in namespace "ns": the API server\'s TLS certificate could not be verified (self-signed '
            "certificate in certificate chain). Give connection 'prod_cluster' the cluster's CA certificate "
            "(extra 'ca_cert', or certificate-authority-data in its kubeconfig), or, only where an unverified "
            "connection is acceptable, set its extra 'disable_verify_ssl' to true"
        )
    else:
        assert isinstance(error, ApiUnavailableError)
        assert "cannot reach the API server" in str(error)


def test_non_status_error_body_is_quoted_briefly():
    error = api.api_error(api.get_pod("p", "ns"), 502, b"<html>bad gateway</html>")
    assert str(error) == 'get pod "p" in namespace "ns": 502: <html>bad gateway</html>'
    assert (
        str(api.api_error(api.get_pod("p", "ns"), 404, None)) == 'get pod "p" in namespace "ns": 404 NotFound'
    )


def test_log_request_sends_since_time_the_generated_clients_cannot():
    request = api.pod_logs(
        "p", "ns", container="base", follow=True, timestamps=True, since_time="2026-01-01T00:00:00.123456789Z"
    )
    assert request.url_path == (
        "/api/v1/namespaces/ns/pods/p/log?container=base&follow=true&timestamps=true"
        "&sinceTime=2026-01-01T00%3A00%3A00.123456789Z"
    )


def test_exec_request_repeats_command_parameters():
    request = api.pod_exec("p", "ns", ["sh", "-c", "cat /airflow/xcom/return.json"], container="side")
    assert request.query[:3] == (
        ("command", "sh"),
        ("command", "-c"),
        ("command", "cat /airflow/xcom/return.json"),
    )
    assert (request.verb, request.resource) == ("create", "pods/exec")


def test_event_listing_selects_the_pod():
    request = api.list_pod_events("p", "ns", uid="u-1")
    assert request.query == (
        ("fieldSelector", "involvedObject.kind=Pod,involvedObject.name=p,involvedObject.uid=u-1"),
    )


def test_names_are_url_quoted():
    assert api.get_pod("a/b", "n s").path == "/api/v1/namespaces/n%20s/pods/a%2Fb"


def test_watch_decoder_handles_lines_split_across_chunks():
    decoder = api.WatchDecoder(api.watch_pods("ns", resource_version="1"))
    lines = b"".join(
        json.dumps({"type": t, "object": {"metadata": {"resourceVersion": str(i)}}}).encode() + b"\n"
        for i, t in enumerate(["ADDED", "MODIFIED", "BOOKMARK"], start=2)
    )
    events = []
    for i in range(0, len(lines), 7):
        events.extend(decoder.feed(lines[i : i + 7]))
    events.extend(decoder.close())
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", "2"),
        ("MODIFIED", "3"),
        ("BOOKMARK", "4"),
    ]


def test_watch_decoder_raises_expired_on_410_error_event():
    decoder = api.WatchDecoder(api.watch_pods("ns", resource_version="1"))
    line = json.dumps(
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "code": 410,
                "reason": "Expired",
                "message": "too old resource version: 1 (40)",
            },
        }
    )
    with pytest.raises(ExpiredError, match="410 Expired: too old resource version"):
        list(decoder.feed(line.encode() + b"\n"))


def test_exec_collector_success_and_exit_code():
    collector = api.ExecCollector()
    collector.feed(b"\x01hello ")
    collector.feed(b"\x02warn\n")
    collector.feed(b"\x01world")
    assert not collector.done
    collector.feed(b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode())
    result = collector.result()
    assert (result.stdout, result.stderr, result.exit_code) == (b"hello world", b"warn\n", 0)


def test_exec_collector_non_zero_exit():
    collector = api.ExecCollector()
    collector.feed(
        b"\x03"
        + json.dumps(
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": "command terminated with non-zero exit code: exit status 3",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
            }
        ).encode()
    )
    result = collector.result()
    assert result.exit_code == 3
    assert result.failure_message == "command terminated with non-zero exit code: exit status 3"


def test_exec_collector_caps_stdout():
    collector = api.ExecCollector(max_stdout=10)
    collector.feed(b"\x01" + b"x" * 6)
    assert not collector.done
    collector.feed(b"\x01" + b"y" * 6)
    assert collector.done
    assert collector.overflow
    assert collector.result().stdout == b"xxxxxxyyyy"
