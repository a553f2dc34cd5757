"""Real-cluster counterparts of the pod snapshots captured from the local cluster (see README.md here).

Each ``<name>.yaml`` holds what a real Kubernetes cluster reported in the situation of ``../<name>.yaml``,
copied from where it was published (``source``), with the server version (``kubernetes``) and which
container of the real pod plays which part of ours (``containers``). ``tests/pod/shapes.py`` reduces both
to their status shape and ``tests/pod/test_real_shapes.py`` compares them.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REAL_DIR = Path(__file__).parent
FORMS = ("full", "status", "excerpt")


@dataclass(frozen=True)
class Counterpart:
    name: str
    source: str
    kubernetes: tuple[int, int] | None  # (major, minor) of the server, None when the source does not say
    form: str  # full: a whole `kubectl get pod -o yaml|json`; status: its whole status; excerpt: a part
    containers: dict[str, str]  # real container name -> ours
    main: str  # the real name of the container that plays our main container
    substitutions: dict[str, str]  # other real names (pod, namespace, node, uid...) -> ours
    compare: tuple[str, ...]  # the aspects this counterpart shows (see shapes.ASPECTS)
    last_as_state: tuple[str, ...]  # real containers whose lastState plays our state (they were restarted)
    own_messages: tuple[str, ...]  # real containers whose termination message is the program's own text
    notes: str
    pod: dict[str, Any]


def _version(value: Any) -> tuple[int, int] | None:
    if value in (None, "", "unknown"):
        return None
    major, minor = str(value).lstrip("v").split(".")[:2]
    return int(major), int(minor)


@functools.cache
def _load(name: str) -> Counterpart:
    path = REAL_DIR / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    assert str(data.get("source", "")).startswith("https://"), f"{path.name}: source must be a URL"
    assert data.get("form") in FORMS, f"{path.name}: form must be one of {FORMS}"
    containers = {str(k): str(v) for k, v in (data.get("containers") or {}).items()}
    main = next((real for real, ours in containers.items() if ours == "base"), "")
    assert main, f"{path.name}: no container plays 'base'"
    return Counterpart(
        name=name,
        source=str(data["source"]),
        kubernetes=_version(data.get("kubernetes")),
        form=str(data["form"]),
        containers=containers,
        main=main,
        substitutions={str(k): str(v) for k, v in (data.get("substitutions") or {}).items()},
        compare=tuple(data.get("compare") or ()),
        last_as_state=tuple(data.get("last_as_state") or ()),
        own_messages=tuple(data.get("own_messages") or ()),
        notes=str(data.get("notes") or ""),
        pod=data["pod"],
    )


def counterpart(name: str) -> Counterpart:
    """The real counterpart of snapshot ``name`` (a fresh copy: tests may change it)."""
    return copy.deepcopy(_load(name))


def names() -> list[str]:
    return sorted(p.stem for p in REAL_DIR.glob("*.yaml"))
