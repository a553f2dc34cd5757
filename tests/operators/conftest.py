"""Scenario tests of the operator run in both modes: ``sync`` (the worker follows the pod) and
``deferrable`` (the task defers and ``KubernetesPodTrigger`` follows it; ``dag.test()`` runs the trigger
in-line). The mode is chosen as users choose a default, with ``[operators] default_deferrable``: the
``mode`` fixture lives in tests/dag_runner.py, so example DAG tests use it too."""

from __future__ import annotations
