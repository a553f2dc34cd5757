"""Exceptions raised by this provider.

They derive from Airflow's ``AirflowException`` so that Airflow reports them like any task error.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class K8sPodError(AirflowException):
    """Base class of every error this provider raises on purpose."""


class ConnectionConfigError(K8sPodError, ValueError):
    """A connection, kubeconfig or operator argument cannot select a cluster.

    The message names the connection id and the field. Raised before any API call.
    """


class PodSpecError(K8sPodError, ValueError):
    """Operator arguments or a manifest cannot make a valid pod. The message names the field path."""
