"""A small HTTP/1.1 and WebSocket (RFC 6455) server on asyncio streams.

Why not aiohttp's server: importing aiohttp costs ~0.45 s on a 2-core CI machine, half of the cluster's
whole start-up budget (< 1 s). This module has just what the API server needs, with aiohttp-like names
(``Request``, ``Response``, ``StreamResponse``, ``WebSocketResponse``): keep-alive, Content-Length and
chunked request bodies, chunked streaming responses, connection abort (for fault injection), and
websockets with subprotocol negotiation, fragmentation, ping/pong and close handshake.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 256 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Headers:
    """Case-insensitive, multi-valued header mapping (first value wins for ``get``)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)

    def get(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        for key, value in self._items:
            if key.lower() == lowered:
                return value
        return default

    def getall(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self._items if k.lower() == lowered]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


class Query(Mapping[str, str]):
    """Query parameters: ``get`` returns the first value, ``getall`` every value."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._first: dict[str, str] = {}
        for key, value in pairs:
            self._first.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Any:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getall(self, key: str, default: list[str] | None = None) -> list[str]:
        values = [v for k, v in self._pairs if k == key]
        if not values and default is not None:
            return default
        return values


class Request:
    def __init__(
        self,
        method: str,
        target: str,
        headers: Headers,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.method = method
        split = urlsplit(target)
        self.path = unquote(split.path) or "/"
        self.raw_path = target
        self.query = Query(parse_qsl(split.query, keep_blank_values=True))
        self.headers = headers
        self._reader = reader
        self._writer = writer
        self._body: bytes | None = None
        self.response_started = False
        self.close_after = False
        self.is_websocket = False

    @property
    def transport(self) -> asyncio.WriteTransport:
        return self._writer.transport

    def abort(self) -> None:
        """Drop the connection at once (no TLS close_notify, no terminating chunk), like a reset."""
        self._writer.transport.abort()

    async def read(self) -> bytes:
        if self._body is not None:
            return self._body
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = await self._reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers
                    while (await self._reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise HttpError(413, "request body too large")
                chunks.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            self._body = b"".join(chunks)
        elif length:
            size = int(length)
            if size > MAX_BODY_BYTES:
                raise HttpError(413, "request body too large")
            self._body = await self._reader.readexactly(size)
        else:
            self._body = b""
        return self._body


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


def _header_block(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in items)


class Response:
    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        self.body = text.encode() if text is not None else body
        self.status = status
        self.content_type = content_type
        self.headers = dict(headers or {})

    async def send(self, request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": self.content_type, "Content-Length": str(len(self.body))}
        headers.update(self.headers)
        if request.close_after:
            headers["Connection"] = "close"
        writer.write(_status_line(self.status) + _header_block(headers) + b"\r\n" + self.body)
        await writer.drain()


class StreamResponse:
    """A chunked response written piece by piece (watch streams, followed logs)."""

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self._writer: asyncio.StreamWriter | None = None
        self._eof = False

    def enable_chunked_encoding(self) -> None:
        """Always chunked; kept for aiohttp-style call sites."""

    async def prepare(self, request: Request) -> None:
        request.response_started = True
        request.close_after = True
        self._writer = request._writer
        headers = {
            "Transfer-Encoding": "chunked",
            "Cache-Control": "no-cache, private",
            "Connection": "close",
        }
        headers.update(self.headers)
        self._writer.write(_status_line(self.status) + _header_block(headers) + b"\r\n")
        await self._writer.drain()

    async def write(self, data: bytes) -> None:
        if not data:
            return
        assert self._writer is not None
        if self._writer.is_closing():
            raise ConnectionResetError("client went away")
        self._writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self._writer.drain()

    async def write_eof(self) -> None:
        if self._eof or self._writer is None:
            return
        self._eof = True
        if not self._writer.is_closing():
            self._writer.write(b"0\r\n\r\n")
            await self._writer.drain()

    async def send(self, request: Request, writer: asyncio.StreamWriter) -> None:
        await self.write_eof()


class WSMsgType(enum.IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


@dataclass(frozen=True)
class WSMessage:
    type: WSMsgType
    data: Any


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class WebSocketResponse:
    def __init__(self, protocols: Iterable[str] = (), autoping: bool = True, max_msg_size: int = 0) -> None:
        self.protocols = tuple(protocols)
        self.ws_protocol: str | None = None
        self.closed = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._close_sent = False
        self._lock = asyncio.Lock()

    async def prepare(self, request: Request) -> None:
        key = request.headers.get("Sec-WebSocket-Key")
        if request.headers.get("Upgrade").lower() != "websocket" or not key:
            raise HttpError(400, "not a websocket upgrade request")
        requested = [
            p.strip()
            for p in ",".join(request.headers.getall("Sec-WebSocket-Protocol")).split(",")
            if p.strip()
        ]
        for proto in requested:
            if proto in self.protocols:
                self.ws_protocol = proto
                break
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        if self.ws_protocol:
            headers["Sec-WebSocket-Protocol"] = self.ws_protocol
        request.response_started = True
        request.close_after = True
        request.is_websocket = True
        self._reader = request._reader
        self._writer = request._writer
        self._writer.write(_status_line(101) + _header_block(headers) + b"\r\n")
        await self._writer.drain()

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionResetError("websocket closed")
        length = len(payload)
        if length < 126:
            header = bytes([0x80 | opcode, length])
        elif length < 65536:
            header = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
        async with self._lock:
            self._writer.write(header + payload)
            await self._writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        await self._send_frame(WSMsgType.BINARY, data)

    async def send_str(self, data: str) -> None:
        await self._send_frame(WSMsgType.TEXT, data.encode())

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        assert self._reader is not None
        head = await self._reader.readexactly(2)
        fin = bool(head[0] & 0x80)
        opcode = head[0] & 0x0F
        masked = bool(head[1] & 0x80)
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await self._reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self._reader.readexactly(8), "big")
        mask = await self._reader.readexactly(4) if masked else b""
        payload = await self._reader.readexactly(length) if length else b""
        if masked:
            payload = _unmask(payload, mask)
        return fin, opcode, payload

    async def receive(self) -> WSMessage:
        fragments: list[bytes] = []
        first_opcode = 0
        while True:
            try:
                fin, opcode, payload = await self._read_frame()
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                self.closed = True
                return WSMessage(WSMsgType.CLOSE, None)
            if opcode == WSMsgType.PING:
                with contextlib.suppress(ConnectionError):
                    await self._send_frame(WSMsgType.PONG, payload)
                continue
            if opcode == WSMsgType.PONG:
                continue
            if opcode == WSMsgType.CLOSE:
                if not self._close_sent:
                    with contextlib.suppress(ConnectionError):
                        self._close_sent = True
                        await self._send_frame(WSMsgType.CLOSE, payload[:2] or (1000).to_bytes(2, "big"))
                self.closed = True
                return WSMessage(WSMsgType.CLOSE, payload)
            if opcode != WSMsgType.CONTINUATION:
                first_opcode = opcode
            fragments.append(payload)
            if fin:
                data = b"".join(fragments)
                if first_opcode == WSMsgType.TEXT:
                    return WSMessage(WSMsgType.TEXT, data.decode("utf-8", errors="replace"))
                return WSMessage(WSMsgType.BINARY, data)

    def __aiter__(self) -> AsyncIterator[WSMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WSMessage]:
        while not self.closed:
            message = await self.receive()
            if message.type == WSMsgType.CLOSE:
                return
            yield message

    async def close(self, code: int = 1000, wait: float = 5.0) -> None:
        """Send a close frame and wait (at most ``wait`` seconds) for the client's close reply."""
        if self._writer is None:
            return
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send_frame(WSMsgType.CLOSE, code.to_bytes(2, "big"))
        if not self.closed:
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                await asyncio.wait_for(self._drain_until_close(), timeout=wait)
        self.closed = True

    async def _drain_until_close(self) -> None:
        while not self.closed:
            message = await self.receive()
            if message.type == WSMsgType.CLOSE:
                return

    async def send(self, request: Request, writer: asyncio.StreamWriter) -> None:
        await self.close()


Handler = Callable[[Request], Awaitable[Response | StreamResponse | WebSocketResponse]]
AnyResponse = Response | StreamResponse | WebSocketResponse


class HttpServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
        self._server = await asyncio.start_server(
            self._serve, sock=sock, ssl=ssl_context, limit=MAX_HEADER_BYTES, ssl_handshake_timeout=30
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    return
                keep = await self._handle(request, reader, writer)
                if not keep:
                    return
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            ssl.SSLError,
            asyncio.LimitOverrunError,
            OSError,
        ):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)
        if not lines:
            return None
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            writer.write(_status_line(400) + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        headers = Headers(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        )
        request = Request(method.upper(), target, headers, reader, writer)
        connection = headers.get("Connection").lower()
        if (version == "HTTP/1.0" and "keep-alive" not in connection) or "close" in connection:
            request.close_after = True
        if headers.get("Expect").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return request

    async def _handle(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        handler_task = asyncio.ensure_future(self.handler(request))
        watcher: asyncio.Task[bytes] | None = None
        try:
            while True:
                waits: set[asyncio.Future[Any]] = {handler_task}
                if request.response_started and watcher is None and not request.is_websocket:
                    # A streaming response: notice a client that goes away (EOF) and stop the handler.
                    watcher = asyncio.ensure_future(reader.read(1))
                if watcher is not None:
                    waits.add(watcher)
                done, _ = await asyncio.wait(
                    waits,
                    timeout=0.5 if not request.response_started else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if handler_task in done:
                    break
                if watcher is not None and watcher in done:
                    handler_task.cancel()
                    with contextlib.suppress(BaseException):
                        await handler_task
                    return False
            response = handler_task.result()
        except HttpError as exc:
            response = Response(text=str(exc), status=exc.status, content_type="text/plain")
        except asyncio.CancelledError:
            handler_task.cancel()
            raise
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            # The client closed its connection (a watch, log or exec stream it is done with): routine.
            log.debug("client closed %s %s: %s", request.method, request.path, exc)
            return False
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            if request.response_started:
                return False
            response = Response(text="internal error", status=500, content_type="text/plain")
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
        if isinstance(response, WebSocketResponse):
            return False
        if not request.response_started or isinstance(response, StreamResponse):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await response.send(request, writer)
        if writer.is_closing() or request.close_after:
            return False
        if request._body is None and (
            request.headers.get("Content-Length") not in ("", "0") or request.headers.get("Transfer-Encoding")
        ):
            try:
                await request.read()
            except HttpError:
                return False
        return True
