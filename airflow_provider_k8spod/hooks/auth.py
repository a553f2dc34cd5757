"""Credentials that expire: exec plugins, OIDC refresh tokens, rotating service-account token files.

One implementation serves the sync client on a worker and the async client on the triggerer: both ask a
:class:`CredentialCache` for a bearer token before each request (through the client configuration's
``refresh_api_key_hook``). The cache refreshes the token shortly before it expires; the async client runs
the (blocking) refresh in a worker thread so the triggerer's event loop never waits on a subprocess or an
HTTP call to an identity provider.

Refreshed tokens live in process memory only; they are never written back to a connection or a file.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_k8spod.exceptions import CredentialError

log = logging.getLogger(__name__)

#: Refresh a token this many seconds before it expires.
EXPIRY_SKEW_SECONDS = 60.0
#: How long an exec plugin may run.
EXEC_TIMEOUT_SECONDS = 60.0
#: Re-read a token file (in-cluster projected tokens rotate) at least this often.
TOKEN_FILE_REREAD_SECONDS = 60.0
_SUPPORTED_EXEC_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)


@dataclass(frozen=True, repr=False)
class Credential:
    """A bearer token and when it stops working (None: unknown, treated as long-lived)."""

    token: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Credential(token='***', expires_at={self.expires_at!r})"

    def fresh(self, now: float, skew: float = EXPIRY_SKEW_SECONDS) -> bool:
        return self.expires_at is None or self.expires_at - skew > now


class CredentialSource(Protocol):
    """Something that can produce a new :class:`Credential`; may block (subprocess, HTTP)."""

    def fetch(self) -> Credential: ...


def _parse_rfc3339(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, without verifying it (only used to decide when to refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class TokenFile:
    """A token read from a file that something else keeps fresh (e.g. a projected service-account token)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fetch(self) -> Credential:
        try:
            token = Path(self.path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialError(f"cannot read token file {self.path!r}: {exc.strerror}") from None
        expiry = jwt_expiry(token)
        reread = time.time() + TOKEN_FILE_REREAD_SECONDS + EXPIRY_SKEW_SECONDS
        return Credential(token, min(expiry, reread) if expiry else reread)


class ExecPlugin:
    """A kubeconfig ``user.exec`` credential plugin (e.g. ``aws eks get-token``, ``gke-gcloud-auth-plugin``).

    The plugin must be installed wherever the client runs: on workers and on the triggerer.
    """

    def __init__(self, spec: Mapping[str, Any], *, cluster: Mapping[str, Any] | None = None) -> None:
        command = spec.get("command")
        if not command:
            raise CredentialError("kubeconfig user.exec has no 'command'")
        self.command = [str(command), *(str(a) for a in spec.get("args") or [])]
        self.api_version = spec.get("apiVersion") or "client.authentication.k8s.io/v1beta1"
        if self.api_version not in _SUPPORTED_EXEC_VERSIONS:
            raise CredentialError(
                f"kubeconfig user.exec apiVersion {self.api_version!r} is not supported "
                f"(supported: {', '.join(_SUPPORTED_EXEC_VERSIONS)})"
            )
        self.env = {str(e["name"]): str(e.get("value", "")) for e in spec.get("env") or [] if "name" in e}
        self.provide_cluster_info = bool(spec.get("provideClusterInfo"))
        self.cluster = dict(cluster or {})

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self.provide_cluster_info:
            cluster = {"server": self.cluster.get("server")}
            if self.cluster.get("certificate-authority-data"):
                cluster["certificate-authority-data"] = self.cluster["certificate-authority-data"]
            spec["cluster"] = cluster
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    def fetch(self) -> Credential:
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": self._exec_info()}
        name = self.command[0]
        try:
            done = subprocess.run(
                self.command,
                env=env,
                capture_output=True,
                timeout=EXEC_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise CredentialError(
                f"exec credential plugin {name!r} is not installed on this machine "
                "(it must be on the PATH of workers and of the triggerer)"
            ) from None
        except subprocess.TimeoutExpired:
            raise CredentialError(
                f"exec credential plugin {name!r} did not finish within {EXEC_TIMEOUT_SECONDS:.0f}s"
            ) from None
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()[-500:]
            raise CredentialError(f"exec credential plugin {name!r} exited with {done.returncode}: {stderr}")
        try:
            result = json.loads(done.stdout)
            status = result["status"]
        except (ValueError, KeyError, TypeError):
            raise CredentialError(
                f"exec credential plugin {name!r} did not print an ExecCredential"
            ) from None
        token = status.get("token")
        if not token:
            raise CredentialError(
                f"exec credential plugin {name!r} returned no token (client certificates from exec "
                "plugins are not supported)"
            )
        expires = status.get("expirationTimestamp")
        return Credential(str(token), _parse_rfc3339(expires) if expires else None)


class OidcRefresh:
    """A kubeconfig ``auth-provider: oidc`` user: an ID token refreshed with its refresh token."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.client_id = str(config.get("client-id") or "")
        self.client_secret = str(config.get("client-secret") or "")
        self.issuer = str(config.get("idp-issuer-url") or "").rstrip("/")
        self.id_token = str(config.get("id-token") or "")
        self.refresh_token = str(config.get("refresh-token") or "")
        self.ca_data = config.get("idp-certificate-authority-data")
        self._ca_file: str | None = None

    def _verify(self) -> bool | str:
        if not self.ca_data:
            return True
        if self._ca_file is None:
            pem = base64.b64decode(self.ca_data)
            handle, path = tempfile.mkstemp(prefix="k8spod-oidc-ca-", suffix=".pem")
            with os.fdopen(handle, "wb") as f:
                f.write(pem)
            self._ca_file = path
        return self._ca_file

    def fetch(self) -> Credential:
        if self.id_token:
            expiry = jwt_expiry(self.id_token)
            current = Credential(self.id_token, expiry)
            if expiry is not None and current.fresh(time.time()):
                return current
            if not self.refresh_token:
                return current
        if not (self.refresh_token and self.issuer and self.client_id):
            raise CredentialError(
                "kubeconfig OIDC user cannot refresh its token: it needs 'refresh-token', 'idp-issuer-url' "
                "and 'client-id'"
            )
        import requests

        verify = self._verify()
        try:
            discovery = requests.get(
                f"{self.issuer}/.well-known/openid-configuration", timeout=30, verify=verify
            )
            discovery.raise_for_status()
            token_endpoint = discovery.json()["token_endpoint"]
            response = requests.post(
                token_endpoint,
                data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                auth=(self.client_id, self.client_secret),
                timeout=30,
                verify=verify,
            )
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise CredentialError(
                f"OIDC token refresh at {self.issuer} failed: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            try:
                error = response.json().get("error", "")
            except ValueError:
                error = ""
            raise CredentialError(
                f"OIDC token refresh at {self.issuer} was refused: HTTP {response.status_code} {error}".strip()
            )
        payload = response.json()
        new_id_token = payload.get("id_token")
        if not new_id_token:
            raise CredentialError(f"OIDC token refresh at {self.issuer} returned no id_token")
        self.id_token = str(new_id_token)
        self.refresh_token = str(payload.get("refresh_token") or self.refresh_token)
        _mask(self.id_token, self.refresh_token)
        return Credential(self.id_token, jwt_expiry(self.id_token))


class CredentialCache:
    """Thread-safe: hands out the current token and refreshes it, once, when it is about to expire."""

    def __init__(self, source: CredentialSource, *, clock: Callable[[], float] = time.time) -> None:
        self._source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Credential | None = None

    def token(self) -> str:
        current = self._current
        if current is not None and current.fresh(self._clock()):
            return current.token
        with self._lock:
            current = self._current
            if current is None or not current.fresh(self._clock()):
                current = self._source.fetch()
                _mask(current.token)
                self._current = current
            return current.token

    def needs_refresh(self) -> bool:
        current = self._current
        return current is None or not current.fresh(self._clock())


def _mask(*secrets: str) -> None:
    from airflow_provider_k8spod.hooks.secrets import mask_secrets

    mask_secrets(*secrets)
