"""The provider's metadata, kept apart so that importing the package stays cheap."""

from __future__ import annotations

from typing import Any

DISTRIBUTION_NAME = "airflow-provider-k8spod"


def provider_info() -> dict[str, Any]:
    from airflow_provider_k8spod import __version__

    return {
        "package-name": DISTRIBUTION_NAME,
        "name": "Kubernetes Pods (k8spod)",
        "description": "Run Airflow tasks as Kubernetes pods.",
        "versions": [__version__],
    }
