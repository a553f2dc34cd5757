"""Expiring credentials: exec plugins and OIDC refresh (identity provider stubbed with `responses`)."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
import time

import pytest
import responses

from airflow_provider_k8spod.exceptions import CredentialError
from airflow_provider_k8spod.hooks.auth import CredentialCache, ExecPlugin, OidcRefresh, jwt_expiry


def jwt(exp: float, sub: str = "user") -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp), 'sub': sub})}.sig"


def exec_plugin(tmp_path, body: str) -> dict:
    script = tmp_path / "plugin.py"
    script.write_text(textwrap.dedent(body))
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(script)],
    }


def test_exec_plugin_token_and_expiry(tmp_path):
    spec = exec_plugin(
        tmp_path,
        """
        import json, os
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
        assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
        print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                          "status": {"token": "exec-" + os.environ["TEAM"], "expirationTimestamp": "2099-01-01T00:00:00Z"}}))
        """,
    )
    spec["env"] = [{"name": "TEAM", "value": "data"}]
    credential = ExecPlugin(spec).fetch()
    assert credential.token == "exec-data"
    assert credential.expires_at == pytest.approx(4070908800)


def test_exec_plugin_failure_reports_exit_code_and_stderr(tmp_path):
    spec = exec_plugin(tmp_path, "import sys; sys.stderr.write('no SSO session'); sys.exit(3)")
    with pytest.raises(CredentialError, match="exited with 3: no SSO session"):
        ExecPlugin(spec).fetch()


def test_exec_plugin_not_installed():
    with pytest.raises(CredentialError, match="'aws-iam-nope' is not installed on this machine"):
        ExecPlugin({"apiVersion": "client.authentication.k8s.io/v1", "command": "aws-iam-nope"}).fetch()


def test_exec_plugin_garbage_output(tmp_path):
    with pytest.raises(CredentialError, match="did not print an ExecCredential"):
        ExecPlugin(exec_plugin(tmp_path, "print('hello')")).fetch()


def test_exec_plugin_unsupported_api_version():
    with pytest.raises(
        CredentialError, match=r"apiVersion 'client\.authentication\.k8s\.io/v1alpha1' is not supported"
    ):
        ExecPlugin({"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"})


def test_credential_cache_refreshes_only_near_expiry(tmp_path):
    counter = tmp_path / "n"
    counter.write_text("0")
    spec = exec_plugin(
        tmp_path,
        f"""
        import json, pathlib, datetime
        p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1; p.write_text(str(n))
        exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=120)).isoformat()
        print(json.dumps({{"status": {{"token": f"t{{n}}", "expirationTimestamp": exp}}}}))
        """,
    )
    now = [time.time()]
    cache = CredentialCache(ExecPlugin(spec), clock=lambda: now[0])
    assert cache.token() == "t1"
    assert cache.token() == "t1"  # still fresh: the plugin is not run again
    now[0] += 90  # within the 60 s skew of expiry
    assert cache.token() == "t2"
    assert counter.read_text() == "2"


ISSUER = "https://idp.example.test"


def oidc_config(id_token: str, refresh_token: str = "refresh-1") -> dict:
    return {
        "client-id": "airflow",
        "client-secret": "client-secret-xyz",
        "id-token": id_token,
        "refresh-token": refresh_token,
        "idp-issuer-url": ISSUER,
    }


@responses.activate
def test_oidc_refreshes_an_expired_id_token():
    new_token = jwt(time.time() + 3600, sub="fresh")
    responses.get(f"{ISSUER}/.well-known/openid-configuration", json={"token_endpoint": f"{ISSUER}/token"})
    token_call = responses.post(f"{ISSUER}/token", json={"id_token": new_token, "refresh_token": "refresh-2"})
    source = OidcRefresh(oidc_config(jwt(time.time() - 10)))
    credential = source.fetch()
    assert credential.token == new_token
    assert credential.expires_at == pytest.approx(jwt_expiry(new_token))
    body = token_call.calls[0].request.body
    assert "grant_type=refresh_token" in body
    assert "refresh_token=refresh-1" in body
    assert token_call.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert source.refresh_token == "refresh-2"  # rotated refresh token is used next time


@responses.activate
def test_oidc_valid_token_is_used_without_calling_the_idp():
    token = jwt(time.time() + 3600)
    assert OidcRefresh(oidc_config(token)).fetch().token == token
    assert len(responses.calls) == 0


@responses.activate
def test_oidc_refusal_is_reported_without_secrets():
    responses.get(f"{ISSUER}/.well-known/openid-configuration", json={"token_endpoint": f"{ISSUER}/token"})
    responses.post(f"{ISSUER}/token", status=400, json={"error": "invalid_grant"})
    with pytest.raises(CredentialError) as info:
        OidcRefresh(oidc_config(jwt(time.time() - 10))).fetch()
    assert str(info.value) == f"OIDC token refresh at {ISSUER} was refused: HTTP 400 invalid_grant"
    assert "refresh-1" not in str(info.value)
    assert "client-secret-xyz" not in str(info.value)
