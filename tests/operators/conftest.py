"""Scenario tests of the operator run in both modes: ``sync`` (the worker follows the pod) and
``deferrable`` (the task defers and ``KubernetesPodTrigger`` follows it; ``dag.test()`` runs the trigger
in-line). The mode is chosen as users choose a default, with ``[operators] default_deferrable``."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sync", "deferrable"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(request.param == "deferrable"))
    return str(request.param)
