"""Apache Airflow 3 provider that runs tasks as Kubernetes pods."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_k8spod._provider_info import provider_info

    return provider_info()
