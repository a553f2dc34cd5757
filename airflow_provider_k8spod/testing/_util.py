"""Small helpers shared by the server modules: clocks, timestamps, identifiers."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import tempfile
import time
import uuid
from typing import Any

JSON = dict[str, Any]

STATE_PREFIX = "k8spod-local-"

# The alphabet and length kube-apiserver uses for generateName suffixes (no vowels, no 0/1/3).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RANDOM = random.SystemRandom()


def now_ns() -> int:
    """Wall clock in nanoseconds since the epoch."""
    return time.time_ns()


def rfc3339(ts_ns: int | None = None) -> str:
    """Second precision UTC timestamp as the API server writes metadata times: 2024-01-02T03:04:05Z."""
    seconds = (now_ns() if ts_ns is None else ts_ns) // 1_000_000_000
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts_ns: int | None = None) -> str:
    """Microsecond precision UTC timestamp (metav1.MicroTime, used by Event.eventTime)."""
    value = now_ns() if ts_ns is None else ts_ns
    base = dt.datetime.fromtimestamp(value // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{(value % 1_000_000_000) // 1000:06d}Z"


def rfc3339_nano_fixed(ts_ns: int) -> str:
    """RFC3339 with exactly nine fractional digits, the kubelet's format for ``timestamps=true`` logs."""
    base = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ts_ns % 1_000_000_000:09d}Z"


def rfc3339_nano(ts_ns: int) -> str:
    """Go's RFC3339Nano: trailing zeros of the fraction trimmed (containerd's CRI log file format)."""
    base = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ts_ns % 1_000_000_000:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339_ns(value: str) -> int:
    """Parse an RFC3339 timestamp (any fraction, Z or offset) into nanoseconds since the epoch.

    Raises ValueError when the text is not RFC3339.
    """
    match = _RFC3339_RE.match(value.strip())
    if not match:
        raise ValueError(f"parsing time {value!r} as RFC3339 failed")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    tz: dt.tzinfo
    if zone in ("Z", "z"):
        tz = dt.UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    nanos = int((frac or "0").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def new_uid() -> str:
    return str(uuid.uuid4())


def random_suffix(length: int = 5) -> str:
    return "".join(_RANDOM.choice(_SUFFIX_ALPHABET) for _ in range(length))


def random_hex(nbytes: int = 32) -> str:
    return os.urandom(nbytes).hex()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def truthy(value: str | None) -> bool:
    """Query-string booleans as Go's strconv.ParseBool reads them (kubernetes_asyncio sends ``True``)."""
    return value is not None and value.strip().lower() in ("1", "t", "true", "yes")


def state_dir_base() -> str:
    """Where state directories go: ``$K8SPOD_LOCAL_STATE_DIR``, else /dev/shm (tmpfs: pod files, logs and
    volumes are created and removed by the thousand), else the temporary directory."""
    configured = os.environ.get("K8SPOD_LOCAL_STATE_DIR")
    if configured:
        return configured
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def new_state_dir() -> str:
    return tempfile.mkdtemp(prefix=STATE_PREFIX, dir=state_dir_base())
