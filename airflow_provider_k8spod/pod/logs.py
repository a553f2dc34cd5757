"""Container log lines: parsing, a resumable cursor that never repeats or skips a line, UTF-8 safe splitting
and formatting (all pure).

Logs are requested with ``timestamps=true``: every line starts with an RFC 3339 timestamp with nanoseconds.
:class:`LogCursor` remembers the last timestamp delivered and how many lines carried it; after a dropped
stream the follow-up request asks for ``sinceTime=<that timestamp>`` (inclusive) and the cursor drops
exactly the lines already delivered. Lines are cut at ``\\n`` bytes *before* decoding, so a multi-byte
UTF-8 character is never split, whatever the chunk boundaries.

Log rotation by the kubelet (``containerLogMaxSize``) can make early lines disappear before they are read;
no client can recover those.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LogCursor",
    "LogLine",
    "LogSplitter",
    "ResumePolicy",
    "announced_level",
    "format_line",
    "line_level",
    "missing_range",
    "parse_line",
    "parse_timestamp",
    "read_after_follow",
]

#: Longest line kept whole; longer ones are delivered in parts of this size (bounded memory).
MAX_LINE_BYTES = 1024 * 1024

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp(text: str) -> tuple[int, int] | None:
    """``(epoch seconds, nanoseconds)`` of an RFC 3339 timestamp with up to nanosecond precision."""
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}{'+00:00' if zone == 'Z' else zone}"
        )
    except ValueError:
        return None
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(moment.timestamp()), nanos


def format_timestamp(key: tuple[int, int]) -> str:
    """RFC 3339 with nanoseconds, UTC (what ``sinceTime`` accepts)."""
    seconds, nanos = key
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log; ``timestamp`` is None for a line without a parsable one."""

    timestamp: tuple[int, int] | None
    text: str
    raw_timestamp: str = ""
    #: True for the non-final parts of a line longer than :data:`MAX_LINE_BYTES`.
    partial: bool = False


def parse_line(raw: bytes, *, partial: bool = False) -> LogLine:
    """Split ``<timestamp> <text>`` (bytes without the newline) and decode the text as UTF-8."""
    head, _, rest = raw.partition(b" ")
    stamp = head.decode("ascii", "replace")
    key = parse_timestamp(stamp)
    if key is None:
        return LogLine(None, raw.decode("utf-8", "replace"), partial=partial)
    return LogLine(key, rest.decode("utf-8", "replace"), stamp, partial=partial)


@dataclass
class LogSplitter:
    """Cuts a byte stream into lines at ``\\n`` (never inside a UTF-8 character); bounded memory."""

    max_line: int = MAX_LINE_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    #: The buffer starts in the middle of a line (after a part of a runaway line).
    _continued: bool = False

    def feed(self, chunk: bytes) -> Iterator[LogLine]:
        self._buffer += chunk
        while True:
            end = self._buffer.find(b"\n", 0, self.max_line + 1)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                yield self._line(line.rstrip(b"\r"), partial=False)
            elif len(self._buffer) > self.max_line:
                # A runaway line: deliver a part now, cut before an incomplete UTF-8 character. Lines are
                # cut at the same places whatever the chunks, so a resumed stream repeats the same parts.
                cut = _utf8_boundary(self._buffer, self.max_line)
                part = bytes(self._buffer[:cut])
                del self._buffer[:cut]
                yield self._line(part, partial=True)
            else:
                break

    def flush(self) -> Iterator[LogLine]:
        """The last line of a stream that did not end with a newline."""
        if self._buffer:
            rest = bytes(self._buffer)
            self._buffer.clear()
            yield self._line(rest, partial=False)

    def reset(self) -> None:
        """Forget a partial line (a new stream restarts from a full line)."""
        self._buffer.clear()
        self._continued = False

    def _line(self, raw: bytes, *, partial: bool) -> LogLine:
        continued, self._continued = self._continued, partial
        if continued:  # the next part of a runaway line: no timestamp to parse
            return LogLine(None, raw.decode("utf-8", "replace"), partial=partial)
        return parse_line(raw, partial=partial)


def _utf8_boundary(data: bytearray, limit: int) -> int:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    decoder.decode(bytes(data[:limit]))
    pending = len(decoder.getstate()[0])
    return max(1, limit - pending)


@dataclass
class LogCursor:
    """Where a container's log has been read up to: the last timestamp and the lines that carried it.

    ``admit(line)`` returns False for a line that was already delivered (or is older than the cursor) and
    True for a new one, which it records. Use :meth:`since_time` for the next request.

    A line longer than the splitter's bound comes in parts: the first has the timestamp, the next ones
    none. They share the fate of their first part; for the last line delivered, the cursor also counts its
    parts, so that a stream cut between two parts resumes with the next part.
    """

    last: tuple[int, int] | None = None
    delivered_at_last: int = 0
    #: Parts after the first delivered of the last line delivered.
    parts_at_last: int = 0
    #: Lines seen at ``last`` in the current stream (reset by :meth:`new_stream`).
    _seen_at_last: int = 0
    #: Next parts of the current line to drop (None: all of them, its line was delivered before).
    _skip_parts: int | None = 0
    #: Lines (and parts) admitted so far by this cursor: a stream that raised it made progress.
    delivered: int = 0
    #: The text of the last line admitted (to say after which line a log is incomplete).
    last_text: str = ""

    def since_time(self) -> str | None:
        return format_timestamp(self.last) if self.last is not None else None

    def to_dict(self) -> dict[str, int]:
        """Where the log was delivered up to (JSON-compatible: kept on the pod by a stopping triggerer)."""
        if self.last is None:
            return {}
        return {
            "s": self.last[0],
            "n": self.last[1],
            "d": self.delivered_at_last,
            "p": self.parts_at_last,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogCursor:
        cursor = cls()
        if data and "s" in data:
            cursor.last = (int(data["s"]), int(data["n"]))
            cursor.delivered_at_last = int(data.get("d") or 0)
            cursor.parts_at_last = int(data.get("p") or 0)
        return cursor

    def new_stream(self) -> None:
        """Call before reading a stream requested with ``sinceTime=since_time()``."""
        self._seen_at_last = 0
        self._skip_parts = 0

    def admit(self, line: LogLine) -> bool:
        admitted = self._admit(line)
        if admitted:
            self.delivered += 1
            if line.timestamp is not None:
                self.last_text = line.text
        return admitted

    def _admit(self, line: LogLine) -> bool:
        key = line.timestamp
        if key is None:
            if self.last is None:
                return True  # no timestamps at all: nothing to place it by
            # The next part of the current line.
            if self._skip_parts is None:
                return False
            if self._skip_parts > 0:
                self._skip_parts -= 1
                return False
            self.parts_at_last += 1
            return True
        if self.last is None or key > self.last:
            self.last = key
            self.delivered_at_last = 1
            self._seen_at_last = 1
            self.parts_at_last, self._skip_parts = 0, 0
            return True
        if key < self.last:
            self._skip_parts = None
            return False
        self._seen_at_last += 1
        if self._seen_at_last < self.delivered_at_last:
            self._skip_parts = None
            return False
        if self._seen_at_last == self.delivered_at_last:
            # The last line delivered: the stream may have been cut between its parts.
            self._skip_parts = self.parts_at_last
            return False
        self.delivered_at_last += 1
        self.parts_at_last, self._skip_parts = 0, 0
        return True


@dataclass
class ResumePolicy:
    """When to read a cut log stream again, and when to give up on it (pure: fed with the clock).

    Progress is what counts, not the number of cuts: a stream that delivered new lines before it was cut
    is resumed at once and the back-off starts over, however often that happens (a buffering proxy that
    cuts every stream after N bytes). Only attempts that deliver nothing back off (``base_delay`` doubling
    up to ``max_delay``), and only once no attempt has delivered anything for ``stall_limit`` seconds may
    the reader give up (``may_give_up``: the container has ended, there is a fixed rest to read; while it
    runs, a silent container is no reason to stop). A ``stall_limit`` of 0 never gives up.
    """

    started_at: float
    stall_limit: float = 60.0
    base_delay: float = 0.2
    max_delay: float = 10.0
    _stalled_attempts: int = 0
    _last_progress: float | None = None

    def next_delay(self, *, progressed: bool, now: float, may_give_up: bool = True) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (see the class docstring)."""
        if self._last_progress is None:
            self._last_progress = self.started_at
        if progressed:
            self._stalled_attempts = 0
            self._last_progress = now
            return 0.0
        self._stalled_attempts += 1
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(self._stalled_attempts - 1, 16))
        if not may_give_up or self.stall_limit <= 0:
            return delay
        stalled = now - self._last_progress
        if stalled >= self.stall_limit:
            return None
        return min(delay, self.stall_limit - stalled)


def read_after_follow(container_state: str, *, pod_deleted: bool) -> bool:
    """After the follow of a container ended by itself: read the log once more from the cursor?

    A follow ends when its container does, normally having delivered every line. But a kubelet that rotates
    the log file during a follow can stop feeding the follow (kubernetes #59902) and still end it only when
    the container ends: the lines written after the rotation are in the new file and were never sent. So
    once the container has terminated (``container_state`` as :func:`~.status.container_state` gives it),
    one non-following read from the cursor picks up whatever the follow missed; the cursor drops what it
    already delivered, and it costs one request per container. Not for a deleted pod (nothing to read).
    """
    return container_state == "terminated" and not pod_deleted


def missing_range(container: str, cursor: LogCursor) -> str:
    """Which lines of a container's log were not delivered, for the task log (pure)."""
    if cursor.last is None and not cursor.delivered:
        return f"The log of container {container} is incomplete: none of its lines could be read"
    where = f"after {cursor.since_time()}" if cursor.last is not None else "after the first lines"
    return (
        f"The log of container {container} is incomplete: its lines {where} "
        f"(after the line {_last_line(cursor)!r}) could not be read"
    )


def _last_line(cursor: LogCursor) -> str:
    """The last line delivered, cut to 200 characters (to name it in a message)."""
    return cursor.last_text if len(cursor.last_text) <= 200 else cursor.last_text[:200] + "..."


def unread_when_gone(container: str, cursor: LogCursor) -> str:
    """The pod was deleted while its log was being read: lines after the cursor may be lost (pure)."""
    if cursor.last is None and not cursor.delivered:
        read = "before any of its lines were read"
    else:
        read = f"before its log was read to the end (the last line read: {_last_line(cursor)!r})"
    return f"The log of container {container} may be incomplete: the pod was deleted {read}"


_LEVEL_NAMES = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "critical": logging.CRITICAL,
    "crit": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
    # logrus' four-letter forms
    "trac": logging.DEBUG,
    "debu": logging.DEBUG,
    "erro": logging.ERROR,
    "fata": logging.CRITICAL,
    "pani": logging.CRITICAL,
}
_WORD = "(TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|FATAL|PANIC)"
#: The level word marked as such (case-insensitive): ``ERROR:`` (Python's ``ERROR:root:x`` too),
#: ``[ERROR]``, ``<error>``, ``ERROR - ``, ``ERROR | ``, ``ERROR: ``, ``ERROR<tab>``.
_MARKED = rf"(?:{_WORD}:|[\[<]{_WORD}[\]>]|{_WORD}(?:\s*[-|]\s|\t))"
#: A timestamp as log libraries print it before the level: ``2024-01-01 12:00:00,123``,
#: ``2024-01-01T12:00:00.123Z``, ``[2024-01-01 12:00:00 +0000]``, ``12:00:00.123``.
_STAMP = (
    r"\[?(?:\d{4}[-/]\d{2}[-/]\d{2}[ T])?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|\s?[+-]\d{2}:?\d{2}|\s?UTC)?\]?"
)
_PREFIXED = re.compile(
    rf"^\s*(?:{_MARKED}"
    # logrus' text format, four upper-case letters: WARN[0000] x, ERRO[0003] x.
    r"|(?-i:(TRAC|DEBU|INFO|WARN|ERRO|FATA|PANI))\[\d+\]"
    # After a timestamp (and Python's cookbook " - <logger>"): a marked word, or an upper-case one.
    rf"|{_STAMP}(?:\s+-\s+\S+)?\s*[-|]?\s*(?:{_MARKED}|(?-i:{_WORD})(?:\s|$)))",
    re.IGNORECASE,
)
#: logfmt (logrus, slog, go-kit): ``level=error msg=...``, also after other keys (``time=... level=warn``).
_LOGFMT = re.compile(
    r'^\s*(?:[\w.-]+=(?:"[^"]*"|\S*)\s+)*(?:level|lvl|severity)="?([a-z]+)"?(?:\s|$)', re.IGNORECASE
)
#: JSON logs (structlog, zap, pino with names): ``{"level": "error", ...}``.
_JSON = re.compile(r'^\s*\{.*?"(?:level|levelname|severity)"\s*:\s*"([a-z]+)"', re.IGNORECASE)
#: klog / glog: ``E1201 12:00:00.123456    1 file.go:12] x`` (I, W, E, F).
_KLOG = re.compile(r"^([IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\s\]]+:\d+\] ")
#: Only the start of a line is looked at (a level is announced there; bounded work for a 1 MiB line).
_HEAD = 4096
_KLOG_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}


def announced_level(text: str) -> int | None:
    """The level a line announces in a form a log library writes, or None.

    Counted (case-insensitive unless noted): ``ERROR: x`` and Python's ``ERROR:root:x``; ``[ERROR] x``;
    ``ERROR - x``, ``ERROR | x``, a tab after the word; logrus' ``WARN[0000] x``, ``ERRO[0003] x`` (upper
    case); a timestamp then the word (``2024-01-01 12:00:00,123 ERROR x``,
    ``2024-01-01 12:00:00,123 - app - ERROR - x``); logfmt ``level=error``; JSON ``{"level": "error"}``;
    klog's ``E1201 12:00:00.123456 1 file.go:12] x``. Not counted: a level word used as a word
    (``Error rate: 0.0%``, ``Critical path ...``, ``debug mode is off``).
    """
    text = text[:_HEAD]
    match = _KLOG.match(text)
    if match:
        return _KLOG_LEVELS[match.group(1)]
    for pattern in (_PREFIXED, _LOGFMT, _JSON):
        match = pattern.match(text)
        if match:
            word = next(g for g in match.groups() if g)
            return _LEVEL_NAMES.get(word.lower())
    return None


def line_level(text: str) -> int:
    """The level a container line is logged at: WARNING, ERROR or CRITICAL when the line announces one
    (see :func:`announced_level`), INFO otherwise.

    A line is never logged below INFO: one that announces DEBUG (or TRACE) is logged at INFO too, so the
    task log shows every line the container printed whatever the task's log level.
    """
    level = announced_level(text)
    return level if level is not None and level > logging.INFO else logging.INFO


def format_line(
    container: str,
    text: str,
    *,
    prefix: bool = True,
    formatter: Callable[[str, str], str] | None = None,
) -> str:
    """How a line appears in the task log: ``[container] text``, or the user's ``log_formatter``."""
    if formatter is not None:
        return formatter(container, text)
    return f"[{container}] {text}" if prefix else text


def resolve_containers(
    requested: Iterable[str] | str | bool | None, available: Iterable[str], *, exclude: Iterable[str] = ()
) -> list[str]:
    """Which containers to follow: ``True`` means all (minus ``exclude``), a name or names otherwise."""
    names = list(available)
    if requested is True:
        skipped = set(exclude)
        return [n for n in names if n not in skipped]
    if not requested:
        return []
    wanted = [requested] if isinstance(requested, str) else list(requested)
    return [n for n in wanted if n in names]
