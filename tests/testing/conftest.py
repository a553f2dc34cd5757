"""Fixtures for the local cluster's own tests.

Most tests share one cluster per module (``cluster``) and isolate themselves in a fresh namespace
(``ns``); tests that change cluster-wide state (faults, nodes, timings) start their own cluster with the
plugin's ``local_cluster`` fixture or ``local_cluster_factory``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import kubernetes
import kubernetes_asyncio
import pytest

from airflow_provider_k8spod.testing import LocalCluster, Timings

FAST = Timings(
    image_pull_backoff_initial=0.4,
    image_pull_backoff_max=1.0,
    crash_loop_backoff_initial=0.3,
    crash_loop_backoff_max=1.0,
    config_retry_seconds=0.2,
    bookmark_interval_seconds=0.3,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(timings=FAST) as local:
        yield local


def sync_api(local: LocalCluster) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=local.kubeconfig_path, client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


@pytest.fixture(scope="module")
def api_client(cluster: LocalCluster) -> Iterator[kubernetes.client.ApiClient]:
    client = sync_api(cluster)
    yield client
    client.close()


@pytest.fixture(scope="module")
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def ns(cluster: LocalCluster, core: kubernetes.client.CoreV1Api) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


async def async_api(local: LocalCluster) -> kubernetes_asyncio.client.ApiClient:
    configuration = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(
        config_file=local.kubeconfig_path, client_configuration=configuration
    )
    return kubernetes_asyncio.client.ApiClient(configuration)


@pytest.fixture
async def acore(cluster: LocalCluster) -> AsyncIterator[kubernetes_asyncio.client.CoreV1Api]:
    client = await async_api(cluster)
    try:
        yield kubernetes_asyncio.client.CoreV1Api(client)
    finally:
        await client.close()
