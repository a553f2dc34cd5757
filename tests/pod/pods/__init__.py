"""Pod snapshots for the table tests of the pod decisions (``airflow_provider_k8spod.pod.status``).

Each ``<name>.yaml`` here holds one pod as the API server returned it, with the Kubernetes events about it:

- ``source: local-cluster``: captured by ``capture.py`` from the local cluster (re-run it to refresh);
- ``source: hand-written``: what real Kubernetes reports where the local cluster differs (``basis`` says
  how and why, ``derived_from`` names the capture it was edited from). ``capture.py`` never overwrites
  these.

Tests read the files with :func:`snapshot`; nothing here starts a cluster. ``real/`` holds what real clusters
reported in the same situations, with their sources; ``tests/pod/test_real_shapes.py`` compares the two.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PODS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Snapshot:
    name: str
    description: str
    source: str
    main: str
    pod: dict[str, Any]
    events: list[dict[str, Any]]


@functools.cache
def _load(name: str) -> Snapshot:
    path = PODS_DIR / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    assert data.get("source") in ("local-cluster", "hand-written"), path
    return Snapshot(
        name=name,
        description=str(data["description"]),
        source=str(data["source"]),
        main=str(data.get("main") or "base"),
        pod=data["pod"],
        events=list(data.get("events") or []),
    )


def snapshot(name: str) -> Snapshot:
    """The snapshot ``name`` (a fresh copy: tests may change it)."""
    return copy.deepcopy(_load(name))


def pod(name: str) -> dict[str, Any]:
    return snapshot(name).pod


def names() -> list[str]:
    return sorted(p.stem for p in PODS_DIR.glob("*.yaml"))
