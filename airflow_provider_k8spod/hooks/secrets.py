"""Register secret values with Airflow's secrets masker so they never reach a log line."""

from __future__ import annotations


def mask_secrets(*values: str | None) -> None:
    """Mask each non-empty value in this process's logs (and, on a worker, in the supervisor's too).

    Airflow's ``mask_secret`` masks locally first and then tells the supervisor if there is one; it
    swallows the errors of that second step, so it is safe on an event loop too.
    """
    from airflow.sdk.log import mask_secret

    for value in values:
        if value:
            mask_secret(value)
