"""Log file format and reading options (pure parts); the API behaviour is in test_api_logs.py."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from airflow_provider_k8spod.testing.node.logs import (
    MAX_LINE,
    LineSplitter,
    LogEntry,
    LogFile,
    LogOptions,
    follow,
    format_entry,
    parse_entries,
    render_entries,
)


def _clock() -> itertools.count[int]:
    return itertools.count(1_700_000_000_000_000_000, 1_000)


def test_cri_format_round_trip() -> None:
    entry = LogEntry(1_700_000_000_123_000_000, "stdout", False, b"hello \xc3\xa9")
    line = format_entry(entry)
    assert line == b"2023-11-14T22:13:20.123Z stdout F hello \xc3\xa9\n"
    entries, rest = parse_entries(line + b"2023-11-14T22:13:20Z stderr P par")
    assert entries == [entry]
    assert rest == b"2023-11-14T22:13:20Z stderr P par"


def test_splitter_lines_partials_and_eof() -> None:
    out: list[LogEntry] = []
    clock = _clock()
    splitter = LineSplitter("stdout", out.append, lambda: next(clock))
    splitter.feed(b"one\ntw")
    splitter.feed(b"o\nthr")
    splitter.feed(b"x" * (MAX_LINE + 10))
    splitter.close()
    assert [(e.partial, e.content[:5]) for e in out] == [
        (False, b"one"),
        (False, b"two"),
        (True, b"thrxx"),
        (True, b"x" * 5),
    ]
    assert sum(len(e.content) for e in out[2:]) == 3 + MAX_LINE + 10


def test_multibyte_char_split_across_chunks_is_kept_raw() -> None:
    out: list[LogEntry] = []
    splitter = LineSplitter("stdout", out.append)
    data = "héllo wörld\n".encode()
    for byte in data:
        splitter.feed(bytes([byte]))
    assert render_entries(out, LogOptions()) == data


def _entries() -> list[LogEntry]:
    return [
        LogEntry(1_000_000_000, "stdout", False, b"a"),
        LogEntry(2_000_000_000, "stderr", True, b"b1"),
        LogEntry(2_500_000_000, "stderr", False, b"b2"),
        LogEntry(3_000_000_000, "stdout", False, b"c"),
    ]


def test_render_options() -> None:
    entries = _entries()
    assert render_entries(entries, LogOptions()) == b"a\nb1b2\nc\n"
    assert render_entries(entries, LogOptions(tail_lines=1)) == b"c\n"
    assert render_entries(entries, LogOptions(tail_lines=0)) == b""
    assert render_entries(entries, LogOptions(limit_bytes=4)) == b"a\nb1"
    assert render_entries(entries, LogOptions(since_ns=2_500_000_000)) == b"b2\nc\n"
    stamped = render_entries(entries, LogOptions(timestamps=True))
    assert stamped.split(b"\n")[:2] == [
        b"1970-01-01T00:00:01.000000000Z a",
        b"1970-01-01T00:00:02.000000000Z b1b2",
    ]


async def test_follow_until_done_and_rotation(tmp_path: Path) -> None:
    logfile = LogFile(str(tmp_path / "0.log"))
    logfile.write(LogEntry(1, "stdout", False, b"first"))
    received: list[bytes] = []

    async def reader() -> None:
        async for chunk in follow(logfile, LogOptions(follow=True)):
            received.append(chunk)

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.05)
    logfile.write(LogEntry(2, "stdout", False, b"second"))
    await asyncio.sleep(0.05)
    logfile.rotate()
    logfile.write(LogEntry(3, "stdout", False, b"third"))
    await asyncio.sleep(0.05)
    logfile.close()
    await asyncio.wait_for(task, 5)
    assert b"".join(received) == b"first\nsecond\nthird\n"
    assert [e.content for e in logfile.read_all()] == [b"third"]
