"""pytest plugin (entry point ``pytest11``): local cluster fixtures.

- ``local_cluster``: a fresh cluster per test (starts in well under a second). Options come from the
  ``@pytest.mark.local_cluster(...)`` marker, e.g. ``@pytest.mark.local_cluster(nodes=[Node("gpu-1")])``.
- ``local_cluster_session``: one cluster shared by the whole session (per xdist worker); faster when tests
  create many clusters' worth of work, but tests must clean up after themselves. Faults, forbidden verbs
  and stats are reset before each test that uses ``local_cluster_shared``.
- ``local_cluster_shared``: the session cluster, reset (faults, forbidden verbs, stats) for this test.
- ``local_cluster_factory``: call it with LocalCluster options to get more clusters; all stop at teardown.
- ``local_cluster_connection``: ``local_cluster`` plus ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` pointing at it
  for the test's duration (restored afterwards).

Imports are lazy: loading this plugin costs nothing for test runs that do not use the fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_k8spod.testing.cluster import LocalCluster

CONNECTION_ENV = "AIRFLOW_CONN_KUBERNETES_DEFAULT"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_cluster(**options): LocalCluster options (nodes, images, timings, ...) for the local_cluster "
        "fixture",
    )


@pytest.fixture
def local_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A new local cluster for this test, stopped (every container killed) afterwards."""
    from airflow_provider_k8spod.testing.cluster import LocalCluster

    marker = request.node.get_closest_marker("local_cluster")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    with LocalCluster(**options) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def local_cluster_session() -> Iterator[LocalCluster]:
    """One local cluster for the whole session (per xdist worker)."""
    from airflow_provider_k8spod.testing.cluster import LocalCluster

    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture
def local_cluster_shared(local_cluster_session: LocalCluster) -> LocalCluster:
    """The session cluster with faults, forbidden verbs and request counts reset for this test."""
    local_cluster_session.faults.clear()
    local_cluster_session.reset_stats()
    return local_cluster_session


@pytest.fixture
def local_cluster_factory() -> Iterator[Callable[..., LocalCluster]]:
    """``factory(**options)`` starts another cluster; all of them stop at teardown."""
    from airflow_provider_k8spod.testing.cluster import LocalCluster

    started: list[LocalCluster] = []

    def factory(**options: Any) -> LocalCluster:
        cluster = LocalCluster(**options).start()
        started.append(cluster)
        return cluster

    yield factory
    for cluster in reversed(started):
        cluster.stop()


@pytest.fixture
def local_cluster_connection(local_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """``local_cluster`` with ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` set to a ``k8spod`` connection for it."""
    previous = os.environ.get(CONNECTION_ENV)
    os.environ[CONNECTION_ENV] = local_cluster.airflow_connection("default")
    try:
        yield local_cluster
    finally:
        if previous is None:
            os.environ.pop(CONNECTION_ENV, None)
        else:
            os.environ[CONNECTION_ENV] = previous
