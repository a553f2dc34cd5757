from __future__ import annotations

import pytest

from airflow_provider_k8spod.testing.node.images import (
    InvalidImageName,
    default_pull_policy,
    image_key,
    parse_image,
)


@pytest.mark.parametrize(
    ("reference", "normalized"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("apache/airflow:3.1.0", "docker.io/apache/airflow:3.1.0"),
        ("ghcr.io/org/image:v1", "ghcr.io/org/image:v1"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("a@sha256:" + "0" * 64, "docker.io/library/a@sha256:" + "0" * 64),
    ],
)
def test_normalization(reference: str, normalized: str) -> None:
    assert parse_image(reference).normalized == normalized


@pytest.mark.parametrize(
    "reference", ["Foo Bar", "busybox:", "library/UPPER", "a//b", " busybox", "x:tag:tag"]
)
def test_invalid_names(reference: str) -> None:
    with pytest.raises(InvalidImageName) as info:
        parse_image(reference)
    assert str(info.value).startswith(
        f'Failed to apply default image tag "{reference}": couldn\'t parse image name "{reference}": '
        "invalid reference format"
    )


def test_uppercase_repository_message() -> None:
    with pytest.raises(InvalidImageName, match=r"repository name \(library/Busybox\) must be lowercase"):
        parse_image("Busybox")


@pytest.mark.parametrize(
    ("reference", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("x@sha256:" + "1" * 64, "IfNotPresent"),
    ],
)
def test_default_pull_policy(reference: str, policy: str) -> None:
    assert default_pull_policy(reference) == policy


def test_image_key_matches_equivalent_references() -> None:
    assert image_key("busybox") == image_key("docker.io/library/busybox:latest")
    assert image_key("busybox:1") != image_key("busybox:2")
