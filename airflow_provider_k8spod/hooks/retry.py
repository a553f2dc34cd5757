"""The one retry policy of both hooks, as a pure decision function.

Retried: 429 (honouring ``Retry-After``), 500, 502, 503, 504 and connection errors (no HTTP status), with
jittered exponential backoff, until an attempt limit or a deadline; but not a failed TLS certificate
verification, which :func:`~airflow_provider_k8spod.hooks.api.connection_error` turns into a
``TLSVerificationError`` (the hooks retry only ``ApiUnavailableError``). Never retried: 400, 401, 403, 404,
409, 410, 422 and any other status: those describe the request, not a passing condition, and raise at once.

A create that fails with a connection error is retried too: if the first attempt did reach the API
server, the retry answers 409 AlreadyExists, which the lifecycle resolves by adopting the pod.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff settings. ``deadline`` bounds the total time spent retrying one call (seconds)."""

    max_attempts: int = 6
    deadline: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 15.0
    #: Longest ``Retry-After`` we honour; a larger value is capped to this.
    max_retry_after: float = 30.0

    def delay(
        self,
        *,
        attempt: int,
        elapsed: float,
        status: int | None,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise.

        ``attempt`` counts from 1 (the attempt that just failed); ``status`` is None for a connection
        error; ``retry_after`` is the parsed ``Retry-After`` header, if any.
        """
        if status is not None and status not in RETRYABLE_STATUS:
            return None
        if attempt >= self.max_attempts:
            return None
        if status == 429 and retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after)
        else:
            ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
            # "Equal jitter": never less than half the ceiling, so a burst of clients spreads out
            # without any of them hammering the server immediately.
            wait = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
        if elapsed + wait > self.deadline:
            return None
        return wait


def worth_retrying(error: BaseException) -> bool:
    """Whether the same request may succeed later, by the policy above, for callers that retry on a longer
    time scale than one call (e.g. resuming a followed log): not for an API error with a status that is
    never retried (401, 403, 404, 422, ...) nor for a failed TLS verification; yes for 429/5xx and for
    errors without a status (a cut connection)."""
    from airflow_provider_k8spod.exceptions import TLSVerificationError

    status = getattr(error, "status", None)
    if isinstance(status, int):
        return status in RETRYABLE_STATUS
    return not isinstance(error, TLSVerificationError)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the API server sends delta-seconds); None if absent or unparsable."""
    if not value:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


DEFAULT_POLICY = RetryPolicy()
