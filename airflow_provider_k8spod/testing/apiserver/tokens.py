"""Service-account tokens: issued by the TokenRequest subresource (``serviceaccounts/<name>/token``, what
``kubectl create token`` calls) and by the kubelet for a pod's projected token volume; verified on every
request that is not the admin's.

Tokens are JWTs with the claims a real cluster puts in them (``iss``, ``aud``, ``sub``, ``exp``, ``iat``,
``nbf``, ``jti`` and the ``kubernetes.io`` claim naming the namespace, service account and bound pod),
signed with HS256 and a key of this server (a real API server signs with RS256; clients never check). A
token stops authenticating, as a real bound token does, when it expires, when its audiences do not
include the API server's, when its service account is deleted (or recreated: the UID is checked) and when
the pod it is bound to is gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_k8spod.testing._util import JSON, rfc3339
from airflow_provider_k8spod.testing.apiserver import errors
from airflow_provider_k8spod.testing.apiserver.rbac import UserInfo, service_account_user
from airflow_provider_k8spod.testing.apiserver.validation import invalid_value

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600

Getter = Callable[[str, str, str], JSON | None]  # (resource, namespace, name) -> object


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Issued:
    token: str
    expires: int  # unix seconds


class TokenIssuer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._key, data, hashlib.sha256).digest())

    def issue(
        self,
        account: JSON,
        *,
        audiences: list[str] | None = None,
        expiration: int = DEFAULT_EXPIRATION,
        pod: JSON | None = None,
        now: float | None = None,
    ) -> Issued:
        issued_at = int(now if now is not None else time.time())
        meta = account["metadata"]
        claim: JSON = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
        }
        if pod is not None:
            claim["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        payload = {
            "aud": list(audiences or API_AUDIENCES),
            "exp": issued_at + expiration,
            "iat": issued_at,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": claim,
            "nbf": issued_at,
            "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
        }
        head = _b64(json.dumps({"alg": "HS256", "kid": "k8spod-local"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        signing_input = f"{head}.{body}"
        return Issued(f"{signing_input}.{self._sign(signing_input.encode())}", issued_at + expiration)

    def authenticate(self, token: str, get: Getter, now: float | None = None) -> UserInfo | None:
        """The service account a token stands for, or None when it does not authenticate (401)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = self._sign(f"{parts[0]}.{parts[1]}".encode())
        if not hmac.compare_digest(expected.encode(), parts[2].encode()):
            return None
        try:
            payload = json.loads(_unb64(parts[1]))
            claim = payload["kubernetes.io"]
            namespace = str(claim["namespace"])
            account_ref = claim["serviceaccount"]
        except (ValueError, KeyError, TypeError):
            return None
        current = now if now is not None else time.time()
        if not payload.get("nbf", 0) <= current < payload.get("exp", 0):
            return None
        if not set(payload.get("aud") or ()) & set(API_AUDIENCES):
            return None
        account = get("serviceaccounts", namespace, str(account_ref.get("name")))
        if account is None or account["metadata"]["uid"] != account_ref.get("uid"):
            return None
        extra: JSON = {"authentication.kubernetes.io/credential-id": [f"JTI={payload.get('jti', '')}"]}
        pod_ref = claim.get("pod")
        if pod_ref:
            pod = get("pods", namespace, str(pod_ref.get("name")))
            if pod is None or pod["metadata"]["uid"] != pod_ref.get("uid"):
                return None
            extra["authentication.kubernetes.io/pod-name"] = [pod_ref["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [pod_ref["uid"]]
        return service_account_user(namespace, account["metadata"]["name"], account["metadata"]["uid"], extra)


def token_request(issuer: TokenIssuer, account: JSON, body: object, get: Getter) -> JSON:
    """Answer a TokenRequest (POST ``serviceaccounts/<name>/token``) as kube-apiserver does."""
    meta = account["metadata"]
    if body is not None and not isinstance(body, dict):
        raise errors.bad_request('TokenRequest in version "v1" cannot be handled as a TokenRequest')
    request = body or {}
    kind = request.get("kind")
    if kind and kind != "TokenRequest":
        raise errors.bad_request(f'{kind} in version "v1" cannot be handled as a TokenRequest')
    spec = dict(request.get("spec") or {})
    expiration = spec.get("expirationSeconds")
    expiration = DEFAULT_EXPIRATION if expiration is None else int(expiration)
    if expiration < MIN_EXPIRATION:
        raise errors.invalid(
            "TokenRequest",
            "",
            group="authentication.k8s.io",
            causes=[
                invalid_value(
                    "spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes"
                )
            ],
        )
    if expiration > 2**32:
        raise errors.invalid(
            "TokenRequest",
            "",
            group="authentication.k8s.io",
            causes=[
                invalid_value(
                    "spec.expirationSeconds",
                    expiration,
                    "may not specify a duration larger than 2^32 seconds",
                )
            ],
        )
    audiences = list(spec.get("audiences") or API_AUDIENCES)
    pod: JSON | None = None
    ref = spec.get("boundObjectRef")
    if ref:
        ref_kind = ref.get("kind")
        if ref_kind != "Pod":
            raise errors.bad_request(
                f"cannot bind token to object of type {ref_kind}: only Pod is supported here"
            )
        pod = get("pods", meta["namespace"], str(ref.get("name", "")))
        if pod is None:
            raise errors.not_found("pods", str(ref.get("name", "")))
        if (pod.get("spec") or {}).get("serviceAccountName") != meta["name"]:
            raise errors.bad_request(
                f'cannot bind token for serviceaccount "{meta["name"]}" to pod running with different '
                f"serviceaccount name."
            )
        if ref.get("uid") and ref["uid"] != pod["metadata"]["uid"]:
            raise errors.conflict(
                "Pod",
                str(ref.get("name")),
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. The "
                f"object might have been deleted and then recreated",
            )
    issued = issuer.issue(account, audiences=audiences, expiration=expiration, pod=pod)
    spec["audiences"] = audiences
    spec["expirationSeconds"] = expiration
    spec.setdefault("boundObjectRef", None)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": None},
        "spec": spec,
        "status": {"token": issued.token, "expirationTimestamp": rfc3339(issued.expires * 1_000_000_000)},
    }
