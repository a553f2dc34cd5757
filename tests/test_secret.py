"""The Secret class: upstream's constructor and what each kind adds to the pod."""

from __future__ import annotations

import pytest

from airflow_provider_k8spod.exceptions import PodSpecError
from airflow_provider_k8spod.pod.spec import build_pod
from airflow_provider_k8spod.secret import Secret


def test_constructor_like_upstream() -> None:
    secret = Secret("env", "db_password", "db", "password")
    assert (secret.deploy_type, secret.deploy_target, secret.secret, secret.key) == (
        "env",
        "DB_PASSWORD",
        "db",
        "password",
    )
    assert Secret("volume", "/etc/x", "s").deploy_target == "/etc/x"
    assert secret == Secret("env", "DB_PASSWORD", "db", "password")
    assert repr(secret) == "Secret('env', 'DB_PASSWORD', 'db', 'password')"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("file", "/x", "s"), "Secret deploy_type: expected 'env' or 'volume', got 'file'"),
        (("env", None, "s", "k"), "Secret 's': a key needs a deploy_target (the variable name)"),
        (("volume", None, "s"), "Secret 's': deploy_type 'volume' needs deploy_target (a mount path)"),
    ],
)
def test_invalid_secrets(args: tuple, message: str) -> None:
    with pytest.raises(PodSpecError) as info:
        Secret(*args)
    assert str(info.value) == message


class UpstreamLikeSecret:
    """Duck-typed like airflow.providers.cncf.kubernetes.secret.Secret (which is not installed here)."""

    def __init__(self) -> None:
        self.deploy_type = "volume"
        self.deploy_target = "/etc/creds"
        self.secret = "creds"
        self.key = None
        self.items = []


def test_secrets_of_other_classes_are_read_by_their_attributes() -> None:
    pod = build_pod({"image": "busybox", "secrets": [UpstreamLikeSecret()]}, task_id="t")
    container = pod["spec"]["containers"][0]
    volume = pod["spec"]["volumes"][0]
    assert volume["secret"] == {"secretName": "creds"}
    assert container["volumeMounts"] == [
        {"name": volume["name"], "mountPath": "/etc/creds", "readOnly": True}
    ]


def test_the_same_secret_twice_is_added_once() -> None:
    secret = Secret("volume", "/etc/x", "s")
    pod = build_pod({"image": "busybox", "secrets": [secret, Secret("volume", "/etc/x", "s")]}, task_id="t")
    assert len(pod["spec"]["volumes"]) == 1
