"""Container logs, kept like the kubelet keeps them: one file per container instance in the CRI format
(``<RFC3339Nano> <stdout|stderr> <F|P> <content>``), read back with the kubelet's options.

The writer side (:class:`LineSplitter`, :class:`LogFile`) splits raw output into lines the way containerd
does (16 KiB maximum, a trailing unterminated line is a partial entry). The reader side renders entries
with ``timestamps``, ``sinceTime``/``sinceSeconds``, ``tailLines`` and ``limitBytes``, and follows a live
file until the container has exited and its output has been flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

from airflow_provider_k8spod.testing._util import now_ns, parse_rfc3339_ns, rfc3339_nano, rfc3339_nano_fixed

MAX_LINE = 16 * 1024


@dataclass(frozen=True)
class LogEntry:
    ts_ns: int
    stream: str
    partial: bool
    content: bytes


def format_entry(entry: LogEntry) -> bytes:
    tag = b"P" if entry.partial else b"F"
    header = f"{rfc3339_nano(entry.ts_ns)} {entry.stream} ".encode()
    return header + tag + b" " + entry.content + b"\n"


def parse_entry(line: bytes) -> LogEntry | None:
    """Parse one CRI log line (without its trailing newline)."""
    try:
        ts, stream, tag, content = line.split(b" ", 3)
    except ValueError:
        parts = line.split(b" ", 2)
        if len(parts) != 3:
            return None
        ts, stream, tag = parts
        content = b""
    try:
        ts_ns = parse_rfc3339_ns(ts.decode())
    except ValueError:
        return None
    return LogEntry(ts_ns, stream.decode(), tag == b"P", content)


def parse_entries(data: bytes) -> tuple[list[LogEntry], bytes]:
    """Parse complete lines of ``data``; return the entries and the unterminated remainder."""
    entries: list[LogEntry] = []
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end == -1:
            break
        entry = parse_entry(data[start:end])
        if entry is not None:
            entries.append(entry)
        start = end + 1
    return entries, data[start:]


class LineSplitter:
    """Turns a byte stream into CRI entries: full lines, 16 KiB partial pieces, and a partial tail at EOF."""

    def __init__(
        self, stream: str, sink: Callable[[LogEntry], None], clock: Callable[[], int] = now_ns
    ) -> None:
        self.stream = stream
        self._sink = sink
        self._clock = clock
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while True:
            newline = self._buffer.find(b"\n")
            if newline != -1 and newline <= MAX_LINE:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
                self._sink(LogEntry(self._clock(), self.stream, False, line))
                continue
            if len(self._buffer) > MAX_LINE:
                piece, self._buffer = self._buffer[:MAX_LINE], self._buffer[MAX_LINE:]
                self._sink(LogEntry(self._clock(), self.stream, True, piece))
                continue
            break

    def close(self) -> None:
        if self._buffer:
            self._sink(LogEntry(self._clock(), self.stream, True, self._buffer))
            self._buffer = b""


class LogFile:
    """The log file of one container instance (one restart count)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh: BinaryIO = open(path, "ab")  # noqa: SIM115 - lives as long as the container instance
        self.done = False
        self.generation = 0
        self.stall_followers = False
        self._event = asyncio.Event()

    @property
    def event(self) -> asyncio.Event:
        return self._event

    def _notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def write(self, entry: LogEntry) -> None:
        if self._fh.closed:
            return
        self._fh.write(format_entry(entry))
        self._fh.flush()
        self._notify()

    def close(self) -> None:
        """No more output will come (the container exited and its pipes are drained)."""
        if not self._fh.closed:
            self._fh.close()
        self.done = True
        self._notify()

    def rotate(self, stall_followers: bool = False) -> None:
        """Rotate like the kubelet's log manager: the current file moves aside and a new one starts.

        Reads afterwards only see the new file. Live followers continue with the new file, unless
        ``stall_followers``: then they stop receiving output (the old kubelet bug, kubernetes #59902)
        until the container ends.
        """
        rotated = f"{self.path}.1"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rotated)
        if not self._fh.closed:
            self._fh.close()
            os.rename(self.path, rotated)
            self._fh = open(self.path, "ab")  # noqa: SIM115
        else:
            os.rename(self.path, rotated)
            open(self.path, "ab").close()
        self.generation += 1
        self.stall_followers = stall_followers
        self._notify()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rotated)

    def read_all(self) -> list[LogEntry]:
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return []
        entries, _ = parse_entries(data)
        return entries

    def tail_text(self, max_lines: int, max_bytes: int) -> str:
        """Last lines of the log, as used for ``FallbackToLogsOnError`` termination messages."""
        data = render_entries(self.read_all(), LogOptions())
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines = lines[:-1]
        text = b"\n".join(lines[-max_lines:])
        if len(text) > max_bytes:
            text = text[-max_bytes:]
        return text.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class LogOptions:
    timestamps: bool = False
    since_ns: int | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    follow: bool = False
    stream: str = "All"


class _Renderer:
    def __init__(self, opts: LogOptions) -> None:
        self.opts = opts
        self.new_line = True
        self.remaining = opts.limit_bytes

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def render(self, entries: list[LogEntry]) -> bytes:
        out: list[bytes] = []
        wanted = self.opts.stream.lower()
        for entry in entries:
            if self.opts.since_ns is not None and entry.ts_ns < self.opts.since_ns:
                continue
            if wanted != "all" and entry.stream != wanted:
                continue
            piece = entry.content if entry.partial else entry.content + b"\n"
            if self.opts.timestamps and self.new_line:
                piece = rfc3339_nano_fixed(entry.ts_ns).encode() + b" " + piece
            self.new_line = not entry.partial
            out.append(piece)
        data = b"".join(out)
        if self.remaining is not None:
            data = data[: self.remaining]
            self.remaining -= len(data)
        return data


def render_entries(entries: list[LogEntry], opts: LogOptions) -> bytes:
    if opts.tail_lines is not None:
        entries = entries[-opts.tail_lines :] if opts.tail_lines > 0 else []
    return _Renderer(opts).render(entries)


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")


async def follow(logfile: LogFile, opts: LogOptions) -> AsyncIterator[bytes]:
    """Yield the rendered log, then new output as it is written, until the container instance is done."""
    renderer = _Renderer(opts)
    first = True
    fh: BinaryIO | None = None
    generation = logfile.generation
    remainder = b""
    try:
        fh = _open_binary(logfile.path)
        while True:
            event = logfile.event
            data = fh.read()
            stalled = logfile.stall_followers and logfile.generation != generation
            if data and not stalled:
                entries, remainder = parse_entries(remainder + data)
                if first and opts.tail_lines is not None:
                    entries = entries[-opts.tail_lines :] if opts.tail_lines > 0 else []
                first = False
                chunk = renderer.render(entries)
                if chunk:
                    yield chunk
                if renderer.exhausted:
                    return
                continue
            first = False
            if logfile.generation != generation and not logfile.stall_followers:
                # Finish the rotated file (already read to its end above), then switch to the new one.
                fh.close()
                fh = _open_binary(logfile.path)
                generation = logfile.generation
                remainder = b""
                continue
            if logfile.done:
                if not stalled:
                    tail = fh.read()
                    if tail:
                        entries, remainder = parse_entries(remainder + tail)
                        chunk = renderer.render(entries)
                        if chunk:
                            yield chunk
                return
            if not opts.follow:
                return
            await event.wait()
    finally:
        if fh is not None:
            fh.close()


def since_option(since_time: str | None, since_seconds: str | None) -> int | None:
    """Translate ``sinceTime`` / ``sinceSeconds`` into a nanosecond timestamp (None: from the start).

    ``sinceTime`` counts in whole seconds: the API server passes it on to the kubelet as a ``metav1.Time``
    query parameter, which is RFC 3339 without fractional seconds, so ``12:00:00.5Z`` returns the lines
    from ``12:00:00Z`` on."""
    if since_time:
        ns = parse_rfc3339_ns(since_time)
        return ns - ns % 1_000_000_000
    if since_seconds:
        return now_ns() - int(since_seconds) * 1_000_000_000
    return None
