"""Tests of the log decisions (airflow_provider_k8spod.pod.logs): timestamps, line splitting, the resumable
cursor, levels and formatting.

The cursor's property is checked against a model of the Kubernetes log API: a follow stream requested with
``sinceTime`` returns every line whose timestamp is at or after it. Two models of that comparison: the
exact one (the local cluster) and the real API server's, which forwards ``sinceTime`` to the kubelet with
whole-second precision (``opts.SinceTime.Format(time.RFC3339)``), so the stream starts earlier.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_k8spod.pod.logs import (
    LogCursor,
    LogLine,
    LogSplitter,
    announced_level,
    format_line,
    format_timestamp,
    line_level,
    parse_line,
    parse_timestamp,
    read_after_follow,
)

T0 = 1714557600  # 2024-05-01T10:00:00Z

# -- timestamps --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2024-05-01T10:00:00.123456789Z", (T0, 123456789)),
        ("2024-05-01T10:00:00.000000001Z", (T0, 1)),
        ("2024-05-01T10:00:00Z", (T0, 0)),  # Go's RFC3339Nano drops a zero fraction
        ("2024-05-01T10:00:00.5Z", (T0, 500000000)),  # ... and trailing zeros
        ("2024-05-01T10:00:00.120Z", (T0, 120000000)),
        ("2024-05-01T12:00:00.000000001+02:00", (T0, 1)),
        ("2024-05-01T07:30:00-02:30", (T0, 0)),
        ("1970-01-01T00:00:00Z", (0, 0)),
    ],
)
def test_parse_timestamp(text: str, key: tuple[int, int]) -> None:
    assert parse_timestamp(text) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "2024-05-01",
        "2024-05-01T10:00:00",  # no zone
        "2024-05-01 10:00:00Z",
        "2024-05-01T10:00:00.1234567890Z",  # more than nanoseconds
        "2024-13-01T10:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-05-01T10:00:00.Z",
        " 2024-05-01T10:00:00Z",
    ],
)
def test_parse_timestamp_rejects(text: str) -> None:
    assert parse_timestamp(text) is None


def test_format_timestamp_is_utc_with_nanoseconds() -> None:
    assert format_timestamp((T0, 5)) == "2024-05-01T10:00:00.000000005Z"
    assert format_timestamp((T0 + 59, 999999999)) == "2024-05-01T10:00:59.999999999Z"


@given(seconds=st.integers(0, 4102444800), nanos=st.integers(0, 999_999_999))
def test_format_and_parse_timestamp_round_trip(seconds: int, nanos: int) -> None:
    assert parse_timestamp(format_timestamp((seconds, nanos))) == (seconds, nanos)


@given(
    a=st.tuples(st.integers(0, 10**9), st.integers(0, 999_999_999)),
    b=st.tuples(st.integers(0, 10**9), st.integers(0, 999_999_999)),
)
def test_timestamp_order_is_time_order(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (a < b) == (format_timestamp(a) < format_timestamp(b))


# -- lines -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "timestamp", "text"),
    [
        (b"2024-05-01T10:00:00.123456789Z hello world", (T0, 123456789), "hello world"),
        (b"2024-05-01T10:00:00.123456789Z   indented", (T0, 123456789), "  indented"),
        (b"2024-05-01T10:00:00.123456789Z ", (T0, 123456789), ""),
        ("2024-05-01T10:00:00Z héllo ✓ 日本 🎉".encode(), (T0, 0), "héllo ✓ 日本 🎉"),
        (b"2024-05-01T10:00:00Z bad \xff byte", (T0, 0), "bad \ufffd byte"),
        (b"no timestamp here", None, "no timestamp here"),
        (b"", None, ""),
        (b"2024-05-01T10:00:00Z", (T0, 0), ""),
    ],
)
def test_parse_line(raw: bytes, timestamp: tuple[int, int] | None, text: str) -> None:
    line = parse_line(raw)
    assert (line.timestamp, line.text) == (timestamp, text)
    assert line.partial is False
    if timestamp is not None:
        assert line.raw_timestamp == raw.split(b" ", 1)[0].decode()


def feed_all(splitter: LogSplitter, chunks: Iterable[bytes], *, flush: bool = True) -> list[LogLine]:
    out: list[LogLine] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    if flush:
        out.extend(splitter.flush())
    return out


def test_splitter_cuts_at_newlines_across_chunks() -> None:
    data = b"2024-05-01T10:00:00Z one\n2024-05-01T10:00:01Z two\n2024-05-01T10:00:02Z thr"
    out = feed_all(LogSplitter(), [data[:10], data[10:30], data[30:], b"ee"])
    assert [line.text for line in out] == ["one", "two", "three"]
    assert [line.timestamp for line in out] == [(T0, 0), (T0 + 1, 0), (T0 + 2, 0)]


def test_splitter_never_splits_a_utf8_character() -> None:
    data = "2024-05-01T10:00:00Z ✓ done 🎉\n".encode()
    for cut in range(1, len(data)):
        out = feed_all(LogSplitter(), [data[:cut], data[cut:]])
        assert [line.text for line in out] == ["✓ done 🎉"], cut


def test_splitter_drops_the_carriage_return_of_crlf() -> None:
    out = feed_all(LogSplitter(), [b"2024-05-01T10:00:00Z windows\r\n2024-05-01T10:00:00Z unix\n"])
    assert [line.text for line in out] == ["windows", "unix"]


def test_splitter_holds_a_partial_line_until_flush_and_reset_forgets_it() -> None:
    splitter = LogSplitter()
    assert list(splitter.feed(b"2024-05-01T10:00:00Z unfinished")) == []
    assert [line.text for line in splitter.flush()] == ["unfinished"]
    assert list(splitter.flush()) == []
    assert list(splitter.feed(b"2024-05-01T10:00:00Z half of a li")) == []
    splitter.reset()  # a new stream starts at a whole line
    assert [line.text for line in feed_all(splitter, [b"2024-05-01T10:00:01Z whole\n"])] == ["whole"]


def test_splitter_delivers_a_runaway_line_in_bounded_parts() -> None:
    text = "é" * 100 + "end"  # 203 bytes of text
    data = f"2024-05-01T10:00:00.000000001Z {text}\n".encode()
    out = feed_all(LogSplitter(max_line=64), [data[i : i + 7] for i in range(0, len(data), 7)])
    assert len(out) > 3
    assert [line.partial for line in out] == [True] * (len(out) - 1) + [False]
    assert out[0].timestamp == (T0, 1)
    assert "".join(line.text for line in out) == text
    assert all("\ufffd" not in line.text for line in out)
    assert len(out[0].raw_timestamp) + 1 + len(out[0].text.encode()) <= 64
    assert all(len(line.text.encode()) <= 64 for line in out[1:])


# Text of one log line: any characters but the newline (and the CR the splitter drops); no U+FFFD, so that
# a replacement character in the output can only mean a split character.
line_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\ufffd"), min_size=0, max_size=80
)


def reassemble(parts: list[LogLine]) -> list[tuple[tuple[int, int] | None, str]]:
    """Join the parts of runaway lines back into lines: (timestamp of the first part, text)."""
    lines: list[tuple[tuple[int, int] | None, str]] = []
    current: list[LogLine] = []
    for part in parts:
        current.append(part)
        if not part.partial:
            lines.append((current[0].timestamp, "".join(p.text for p in current)))
            current = []
    assert not current, "a line's last part is never partial"
    return lines


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(line_text, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    max_line=st.integers(40, 200),
    final_newline=st.booleans(),
)
def test_splitter_reproduces_lines_whatever_the_chunking(
    texts: list[str], cuts: list[int], max_line: int, final_newline: bool
) -> None:
    stamps = [(T0 + i, i * 1000) for i in range(len(texts))]
    data = "\n".join(f"{format_timestamp(s)} {t}" for s, t in zip(stamps, texts, strict=True)).encode()
    if texts and final_newline:
        data += b"\n"
    out = feed_all(LogSplitter(max_line=max_line), chunked(data, cuts))
    assert reassemble(out) == list(zip(stamps, texts, strict=True))
    for part in out:
        assert "\ufffd" not in part.text
        if part.partial:  # cut for the bound, never inside a character
            size = len(part.text.encode()) + (len(part.raw_timestamp) + 1 if part.timestamp else 0)
            assert max_line - 3 <= size <= max_line


# -- the cursor --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """One line of a container's log as the kubelet stores it."""

    key: tuple[int, int]
    text: str

    def wire(self) -> bytes:
        return f"{format_timestamp(self.key)} {self.text}\n".encode()


def server_stream(log: list[Logged], since_time: str | None, *, whole_seconds: bool) -> bytes:
    """What a log request with ``sinceTime`` (inclusive) returns: with ``whole_seconds``, as the real API
    server does (it forwards sinceTime to the kubelet truncated to the second)."""
    if since_time is None:
        return b"".join(line.wire() for line in log)
    since = parse_timestamp(since_time)
    assert since is not None, since_time
    if whole_seconds:
        since = (since[0], 0)
    return b"".join(line.wire() for line in log if line.key >= since)


def read(
    log: list[Logged], cut_after: list[int | None], *, whole_seconds: bool, max_line: int = 1024 * 1024
) -> Iterator[LogLine]:
    """Follow the log over several streams, as the lifecycle does: each stream is requested with the
    cursor's sinceTime and dropped after ``cut_after[i]`` bytes (None: read to the end)."""
    cursor = LogCursor()
    for limit in cut_after:
        cursor.new_stream()
        splitter = LogSplitter(max_line=max_line)
        data = server_stream(log, cursor.since_time(), whole_seconds=whole_seconds)
        cut = limit is not None and limit < len(data)
        body = data[:limit] if cut else data
        for i in range(0, len(body), 13):  # arbitrary network chunks
            for line in splitter.feed(body[i : i + 13]):
                if cursor.admit(line):
                    yield line
        if not cut:
            for line in splitter.flush():
                if cursor.admit(line):
                    yield line


def test_cursor_resumes_in_the_middle_of_lines_sharing_a_timestamp() -> None:
    t1, t2, t3 = (T0, 100), (T0, 200), (T0 + 1, 0)
    log = [Logged(t1, "a"), Logged(t2, "b"), Logged(t2, "c"), Logged(t2, "d"), Logged(t3, "e")]
    cursor = LogCursor()
    assert cursor.since_time() is None
    first = [
        line for line in parse_all(server_stream(log, None, whole_seconds=False))[:3] if cursor.admit(line)
    ]
    assert [line.text for line in first] == ["a", "b", "c"]
    assert cursor.since_time() == "2024-05-01T10:00:00.000000200Z"
    cursor.new_stream()
    resumed = parse_all(server_stream(log, cursor.since_time(), whole_seconds=False))
    assert [line.text for line in resumed] == ["b", "c", "d", "e"]
    assert [line.text for line in resumed if cursor.admit(line)] == ["d", "e"]


def test_cursor_drops_what_the_real_api_server_resends_from_the_start_of_the_second() -> None:
    log = [Logged((T0, 100), "a"), Logged((T0, 200), "b"), Logged((T0, 300), "c"), Logged((T0 + 1, 5), "d")]
    cursor = LogCursor()
    assert [
        line.text
        for line in parse_all(server_stream(log, None, whole_seconds=True))[:2]
        if cursor.admit(line)
    ] == ["a", "b"]
    cursor.new_stream()
    resumed = parse_all(server_stream(log, cursor.since_time(), whole_seconds=True))
    assert [line.text for line in resumed] == ["a", "b", "c", "d"]  # the whole second again
    assert [line.text for line in resumed if cursor.admit(line)] == ["c", "d"]


def test_cursor_ten_thousand_lines_three_cuts() -> None:
    log = [Logged((T0 + i // 7, (i % 7 // 2) * 1000), f"line {i}") for i in range(10_000)]
    total = len(b"".join(line.wire() for line in log))
    cuts: list[int | None] = [total // 5 + 3, total // 3 + 11, total // 2 - 7, None]
    for whole_seconds in (False, True):
        assert texts(read(log, cuts, whole_seconds=whole_seconds)) == [line.text for line in log]


def test_cursor_admits_lines_without_timestamp() -> None:
    cursor = LogCursor()
    assert cursor.admit(parse_line(b"plain output")) is True
    assert cursor.since_time() is None


def texts(lines: Iterable[LogLine]) -> list[str]:
    return [line.text for line in lines]


def parse_all(data: bytes) -> list[LogLine]:
    return feed_all(LogSplitter(), [data])


@st.composite
def logs(draw: st.DrawFn, long_lines: bool = False) -> list[Logged]:
    """A container's log: timestamps never go back, and often repeat (several lines in one write)."""
    size = draw(st.integers(0, 25))
    steps = draw(
        st.lists(
            st.sampled_from([(0, 0), (0, 0), (0, 1), (0, 999_999_999), (1, 0), (0, 250_000_000)]),
            min_size=size,
            max_size=size,
        )
    )
    texts = draw(
        st.lists(
            line_text if not long_lines else st.text(min_size=0, max_size=150), min_size=size, max_size=size
        )
    )
    key = (T0, 0)
    out = []
    for (ds, dn), text in zip(steps, texts, strict=True):
        nanos = key[1] + dn
        key = (key[0] + ds + nanos // 1_000_000_000, nanos % 1_000_000_000)
        out.append(Logged(key, text.replace("\n", " ").replace("\r", " ")))
    return out


@settings(max_examples=400, deadline=None)
@given(
    log=logs(),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
    whole_seconds=st.booleans(),
)
def test_cursor_delivers_every_line_exactly_once_in_order(
    log: list[Logged], cuts: list[int], whole_seconds: bool
) -> None:
    # Each stream is dropped after some bytes (maybe in the middle of a line, maybe before anything new);
    # the last one is read to its end.
    streams: list[int | None] = [*cuts, None]
    assert texts(read(log, streams, whole_seconds=whole_seconds)) == [line.text for line in log]


@settings(max_examples=400, deadline=None)
@given(
    log=logs(long_lines=True),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
    whole_seconds=st.booleans(),
    max_line=st.integers(48, 90),
)
def test_cursor_delivers_runaway_lines_exactly_once(
    log: list[Logged], cuts: list[int], whole_seconds: bool, max_line: int
) -> None:
    # Lines longer than the splitter's bound come in parts; a cut may fall between two parts.
    streams: list[int | None] = [*cuts, None]
    delivered = list(read(log, streams, whole_seconds=whole_seconds, max_line=max_line))
    assert reassemble(delivered) == [(line.key, line.text) for line in log]


# -- levels and formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "announced"),
    [
        # A colon right after the level word (Python's default format "ERROR:root:x" too).
        ("ERROR: could not connect", logging.ERROR),
        ("Error: could not connect", logging.ERROR),
        ("ERROR:root:could not connect", logging.ERROR),
        ("WARNING:airflow.task:disk almost full", logging.WARNING),
        ("DEBUG: x=1", logging.DEBUG),
        ("debug: x=1", logging.DEBUG),
        ("INFO: starting", logging.INFO),
        ("CRITICAL: out of money", logging.CRITICAL),
        ("FATAL: out of money", logging.CRITICAL),
        ("  ERROR: indented", logging.ERROR),
        # Brackets.
        ("[ERROR] could not connect", logging.ERROR),
        ("[warning] disk almost full", logging.WARNING),
        ("[debug] x=1", logging.DEBUG),
        ("<error> could not connect", logging.ERROR),
        # The word, then a separator.
        ("error - could not connect", logging.ERROR),
        ("WARNING - careful", logging.WARNING),
        ("ERROR | could not connect", logging.ERROR),
        ("ERROR\tcould not connect", logging.ERROR),
        # logrus' text format (upper case).
        ("WARN[0000] disk almost full", logging.WARNING),
        ("ERRO[0003] could not connect", logging.ERROR),
        ("Warn[0000] not logrus", None),
        # After a timestamp.
        ("2024-01-01 12:00:00,123 ERROR could not connect", logging.ERROR),
        ("2024-01-01 12:00:00,123 - etl.load - WARNING - disk almost full", logging.WARNING),
        ("2024-05-01T10:00:00.123Z\terror\tcould not connect", logging.ERROR),  # zap, production
        ("[2024-01-01 12:00:00 +0000] [ERROR] worker failed", logging.ERROR),  # gunicorn
        ("12:00:00.123 [main] x", None),
        ("2024-01-01 12:00:00,123 Error rate: 0.0%", None),
        # logfmt, at the start or after other keys.
        ("level=debug msg=starting", logging.DEBUG),
        ('level=error msg="could not connect"', logging.ERROR),
        ('time="2024-01-01T12:00:00Z" level=warning msg="disk almost full"', logging.WARNING),
        ("time=2024-01-01T12:00:00Z level=ERROR msg=boom", logging.ERROR),  # slog
        ("level=verbose msg=x", None),
        # JSON.
        ('{"event": "could not connect", "level": "error"}', logging.ERROR),
        ('{"levelname": "WARNING", "message": "x"}', logging.WARNING),
        # klog.
        ("E1201 12:00:00.123456    1 reflector.go:138] could not connect", logging.ERROR),
        ("W1201 12:00:00.123456 1 main.go:12] disk almost full", logging.WARNING),
        ("I1201 12:00:00.123456 1 main.go:12] started", logging.INFO),
        # A level word used as a word: no level announced.
        ("debug mode is off", None),
        ("Debug output follows", None),
        ("Error rate: 0.0%", None),
        ("Critical path: extract -> load", None),
        ("critical section entered", None),
        ("Warning signs: none", None),
        ("WARN disk almost full", None),
        ("ERROR could not connect", None),
        ("info about the run", None),
        ("processed 10 rows", None),
        ("Errors found: 3", None),
        ("ERRORS found", None),
        ("errorless run", None),
        ("the ERROR: comes later in the line", None),
        ("level=error-prone code", None),
        ("", None),
    ],
)
def test_announced_level(text: str, announced: int | None) -> None:
    assert announced_level(text) == announced


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("ERROR: could not connect", logging.ERROR),
        ("WARNING - careful", logging.WARNING),
        ("CRITICAL: out of money", logging.CRITICAL),
        ("INFO: starting", logging.INFO),
        # A container line is never logged below INFO, so it shows at the task's default log level.
        ("DEBUG: x=1", logging.INFO),
        ("[debug] x=1", logging.INFO),
        ("level=debug msg=starting", logging.INFO),
        ("debug mode is off", logging.INFO),
        # Level words used as words are plain lines.
        ("Error rate: 0.0%", logging.INFO),
        ("Critical path: extract -> load", logging.INFO),
        ("processed 10 rows", logging.INFO),
        ("", logging.INFO),
    ],
)
def test_line_level(text: str, level: int) -> None:
    assert line_level(text) == level


def test_only_the_start_of_a_long_line_is_looked_at() -> None:
    assert line_level("ERROR: " + "x" * 1_000_000) == logging.ERROR
    assert line_level("x " * 500_000 + "level=error") == logging.INFO
    assert line_level("a=b " * 250_000) == logging.INFO


def test_format_line() -> None:
    assert format_line("base", "hello") == "[base] hello"
    assert format_line("base", "hello", prefix=False) == "hello"
    assert format_line("base", "hello", formatter=lambda c, t: f"{c.upper()} | {t}") == "BASE | hello"
    # The user's formatter wins over the prefix setting.
    assert format_line("base", "hello", prefix=False, formatter=lambda c, t: f"<{c}> {t}") == "<base> hello"


# -- resuming a cut stream: progress, not the number of cuts, decides ------------------------------------


@pytest.mark.parametrize(
    ("attempts", "may_give_up", "delays"),
    [
        # (progressed, now) per attempt -> the delay before the next one (None: give up).
        # Cut after every 20 kB, each stream delivering lines: always resumed at once, never given up.
        ([(True, t) for t in range(0, 1000, 10)], True, [0.0] * 100),
        # Nothing delivered: back-off doubles up to max_delay, then gives up once stalled for 60s.
        (
            [
                (False, 0),
                (False, 1),
                (False, 2),
                (False, 4),
                (False, 8),
                (False, 30),
                (False, 59),
                (False, 60),
            ],
            True,
            [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 1.0, None],
        ),
        # Progress in between starts the back-off and the stall over.
        (
            [(False, 0), (False, 50), (True, 55), (False, 56), (False, 114), (False, 115)],
            True,
            [0.2, 0.4, 0.0, 0.2, 0.4, None],
        ),
        # While the container runs, a stall is never a reason to give up.
        ([(False, 0), (False, 100), (False, 1000), (False, 5000)], False, [0.2, 0.4, 0.8, 1.6]),
    ],
)
def test_resume_policy(
    attempts: list[tuple[bool, float]], may_give_up: bool, delays: list[float | None]
) -> None:
    from airflow_provider_k8spod.pod.logs import ResumePolicy

    policy = ResumePolicy(started_at=0.0, stall_limit=60.0)
    got = [policy.next_delay(progressed=p, now=float(t), may_give_up=may_give_up) for p, t in attempts]
    assert got == pytest.approx(delays)


def test_resume_policy_without_a_stall_limit_never_gives_up() -> None:
    from airflow_provider_k8spod.pod.logs import ResumePolicy

    policy = ResumePolicy(started_at=0.0, stall_limit=0)
    delays = [policy.next_delay(progressed=False, now=float(t)) for t in range(10, 10000, 1000)]
    assert delays[:3] == pytest.approx([0.2, 0.4, 0.8])
    assert delays[-1] == 10.0


def test_cursor_counts_what_it_delivers_and_says_what_is_missing() -> None:
    from airflow_provider_k8spod.pod.logs import missing_range

    cursor = LogCursor()
    assert missing_range("base", cursor) == (
        "The log of container base is incomplete: none of its lines could be read"
    )
    splitter = LogSplitter()
    chunk = b"2024-01-01T00:00:00.000000001Z line 1\n2024-01-01T00:00:00.000000002Z line 2\n"
    assert [cursor.admit(line) for line in splitter.feed(chunk)] == [True, True]
    cursor.new_stream()
    assert [cursor.admit(line) for line in splitter.feed(chunk)] == [False, False]
    assert cursor.delivered == 2
    assert missing_range("base", cursor) == (
        "The log of container base is incomplete: its lines after 2024-01-01T00:00:00.000000002Z "
        "(after the line 'line 2') could not be read"
    )


def test_a_pod_deleted_during_its_log_is_named_with_the_last_line_read() -> None:
    from airflow_provider_k8spod.pod.logs import unread_when_gone

    cursor = LogCursor()
    assert unread_when_gone("base", cursor) == (
        "The log of container base may be incomplete: the pod was deleted before any of its lines were read"
    )
    chunk = b"2024-01-01T00:00:00.000000001Z line 1\n"
    assert [cursor.admit(line) for line in LogSplitter().feed(chunk)] == [True]
    assert unread_when_gone("base", cursor) == (
        "The log of container base may be incomplete: the pod was deleted before its log was read to the "
        "end (the last line read: 'line 1')"
    )


@pytest.mark.parametrize(
    ("state", "deleted", "expected"),
    [
        ("terminated", False, True),  # the follow may have stalled at a rotation: read what it missed
        ("terminated", True, False),  # the pod is gone: nothing to read
        ("running", False, False),  # (the follow ended because the pod did, e.g. deleted with the node)
        ("waiting", False, False),
        ("unknown", False, False),
    ],
)
def test_read_after_follow(state: str, deleted: bool, expected: bool) -> None:
    assert read_after_follow(state, pod_deleted=deleted) is expected
