"""The retry policy shared by both hooks (pure decision function)."""

from __future__ import annotations

import random

import pytest

from airflow_provider_k8spod.exceptions import (
    ApiUnavailableError,
    BadRequestError,
    ForbiddenError,
    KubernetesApiError,
    NotFoundError,
    TLSVerificationError,
    UnauthorizedError,
)
from airflow_provider_k8spod.hooks.retry import RetryPolicy, parse_retry_after, worth_retrying

POLICY = RetryPolicy(max_attempts=5, deadline=30.0, base_delay=1.0, max_delay=8.0, max_retry_after=10.0)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 405, 418])
def test_client_errors_are_never_retried(status):
    assert POLICY.delay(attempt=1, elapsed=0.0, status=status) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, None])
def test_transient_errors_and_connection_errors_are_retried(status):
    assert POLICY.delay(attempt=1, elapsed=0.0, status=status) is not None


@pytest.mark.parametrize(
    ("error", "worth"),
    [
        # Never retried by the policy: 403 on pods/log used to be resumed again and again by the log follower.
        (ForbiddenError("get pods/log ...: 403 Forbidden", status=403), False),
        (UnauthorizedError("401", status=401), False),
        (NotFoundError("404", status=404), False),
        (BadRequestError("400", status=400), False),
        (KubernetesApiError("422", status=422), False),
        (TLSVerificationError("certificate verify failed"), False),
        # Retried: transient statuses and errors without a status (a cut connection).
        (ApiUnavailableError("503", status=503), True),
        (ApiUnavailableError("429", status=429), True),
        (KubernetesApiError("500", status=500), True),
        (ApiUnavailableError("cannot reach the API server"), True),
        (KubernetesApiError("the API server sent a body that is not JSON"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
    ],
)
def test_worth_retrying_follows_the_policy(error, worth):
    assert worth_retrying(error) is worth


def test_retry_after_is_honoured_for_429_and_capped():
    assert POLICY.delay(attempt=1, elapsed=0.0, status=429, retry_after=3.0) == 3.0
    assert POLICY.delay(attempt=1, elapsed=0.0, status=429, retry_after=120.0) == 10.0


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        for _ in range(50):
            wait = POLICY.delay(attempt=attempt, elapsed=0.0, status=503, rng=rng)
            assert wait is not None
            assert ceiling / 2 <= wait <= ceiling


def test_jitter_spreads_clients():
    waits = {POLICY.delay(attempt=3, elapsed=0.0, status=503, rng=random.Random(seed)) for seed in range(20)}
    assert len(waits) == 20


def test_attempt_limit():
    assert POLICY.delay(attempt=4, elapsed=0.0, status=503) is not None
    assert POLICY.delay(attempt=5, elapsed=0.0, status=503) is None


def test_deadline_bounds_total_time():
    assert POLICY.delay(attempt=1, elapsed=29.5, status=429, retry_after=1.0) is None
    assert POLICY.delay(attempt=1, elapsed=20.0, status=429, retry_after=1.0) == 1.0


@pytest.mark.parametrize(
    ("value", "expected"), [("5", 5.0), (" 2 ", 2.0), (None, None), ("", None), ("soon", None)]
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected
