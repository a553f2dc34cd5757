"""The ClusterRole aggregation controller: an aggregated ClusterRole's ``rules`` are the rules of the
ClusterRoles its ``aggregationRule`` selects, kept up to date when any ClusterRole changes (chains such as
``view`` -> ``edit`` -> ``admin`` settle in a few rounds). Runs synchronously after every ClusterRole
write, where the real controller catches up within moments."""

from __future__ import annotations

import copy

from airflow_provider_k8spod.testing.apiserver.rbac import aggregated_rules
from airflow_provider_k8spod.testing.apiserver.store import Store

MAX_ROUNDS = 10


def aggregate(store: Store) -> int:
    """Bring every aggregated ClusterRole up to date; returns the number of updates written."""
    written = 0
    for _ in range(MAX_ROUNDS):
        changed = False
        for role in store.list("clusterroles"):
            rules = aggregated_rules(role, store.list("clusterroles"))
            if rules is None or rules == (role.get("rules") or []):
                continue
            updated = copy.deepcopy(role)
            updated["rules"] = rules
            store.update("clusterroles", updated)
            changed = True
            written += 1
        if not changed:
            break
    return written
