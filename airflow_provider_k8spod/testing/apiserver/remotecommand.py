"""The exec websocket: Kubernetes' channel protocols over websockets.

Supported subprotocols (the client's order of preference wins, as in the API server):
``v5.channel.k8s.io``, ``v4.channel.k8s.io``, ``v4.base64.channel.k8s.io``, ``channel.k8s.io``,
``base64.channel.k8s.io``. Channels: 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize; v5 adds the
close signal (channel 255, payload = channel to close) that half-closes stdin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import struct
import termios
from dataclasses import dataclass

from airflow_provider_k8spod.testing._util import JSON
from airflow_provider_k8spod.testing.apiserver import _http as web
from airflow_provider_k8spod.testing.apiserver._http import WSMsgType
from airflow_provider_k8spod.testing.node.runtime import sigkill

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)


@dataclass
class ExecOptions:
    command: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


class ChannelSocket:
    """Frames data for the negotiated subprotocol; optionally cuts the connection after N bytes (fault)."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, cut_after: int | None) -> None:
        self.ws = ws
        self.request = request
        self.protocol = ws.ws_protocol or ""
        self.base64 = self.protocol in (V4_BASE64, V1_BASE64)
        self.cut_after = cut_after
        self.sent = 0
        self.cut = False

    async def send(self, channel: int, data: bytes) -> None:
        if self.cut or self.ws.closed:
            return
        if self.cut_after is not None and self.sent + len(data) > self.cut_after:
            data = data[: max(0, self.cut_after - self.sent)]
            if data:
                await self._frame(channel, data)
            self.cut = True
            await asyncio.sleep(0.05)
            self.request.abort()
            return
        self.sent += len(data)
        await self._frame(channel, data)

    async def _frame(self, channel: int, data: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            if self.base64:
                await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
            else:
                await self.ws.send_bytes(bytes([channel]) + data)

    async def status(self, exit_code: int | None, command: list[str], error: JSON | None = None) -> None:
        """Write the final status on the error channel (JSON for v4/v5, plain text before)."""
        if self.cut or self.ws.closed:
            return
        if error is not None:
            body = error
        elif exit_code == 0:
            body = {"metadata": {}, "status": "Success"}
        else:
            body = {
                "metadata": {},
                "status": "Failure",
                "message": "command terminated with non-zero exit code: error executing command "
                f"[{' '.join(command)}], exit code {exit_code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
            }
        if self.protocol in (V5, V4, V4_BASE64):
            await self._frame(ERROR, json.dumps(body, separators=(",", ":")).encode())
        elif body.get("status") != "Success":
            await self._frame(ERROR, str(body.get("message", "")).encode())


def _decode(message: bytes | str, base64_mode: bool) -> tuple[int, bytes] | None:
    if isinstance(message, str):
        if not message:
            return None
        if base64_mode:
            return ord(message[0]) - ord("0"), base64.b64decode(message[1:])
        raw = message.encode()
    else:
        raw = message
    if not raw:
        return None
    if base64_mode:
        return raw[0] - ord("0"), base64.b64decode(raw[1:])
    return raw[0], raw[1:]


async def serve_exec(
    ws: web.WebSocketResponse,
    request: web.Request,
    options: ExecOptions,
    process: asyncio.subprocess.Process,
    pty_master: int | None,
    cut_after: int | None,
) -> None:
    """Bridge the websocket and the exec'd process until it exits, then report its status."""
    sock = ChannelSocket(ws, request, cut_after)
    first = STDOUT if options.stdout else STDERR if options.stderr else ERROR
    await sock.send(first, b"")
    loop = asyncio.get_running_loop()
    pumps: list[asyncio.Future[None]] = []

    async def pump(reader: asyncio.StreamReader, channel: int) -> None:
        while True:
            chunk = await reader.read(32768)
            if not chunk:
                return
            await sock.send(channel, chunk)

    if pty_master is not None:
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        master = pty_master

        def on_readable() -> None:
            try:
                data = os.read(master, 32768)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(master)
            chunks.put_nowait(data)

        loop.add_reader(master, on_readable)

        async def pty_pump() -> None:
            while True:
                chunk = await chunks.get()
                if not chunk:
                    return
                if options.stdout:
                    await sock.send(STDOUT, chunk)

        pumps.append(asyncio.ensure_future(pty_pump()))
    else:
        if process.stdout is not None:
            pumps.append(
                asyncio.ensure_future(
                    pump(process.stdout, STDOUT) if options.stdout else _drain(process.stdout)
                )
            )
        if process.stderr is not None:
            pumps.append(
                asyncio.ensure_future(
                    pump(process.stderr, STDERR) if options.stderr else _drain(process.stderr)
                )
            )

    async def reader() -> None:
        async for message in ws:
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            decoded = _decode(message.data, sock.base64)
            if decoded is None:
                continue
            channel, data = decoded
            if channel == STDIN and options.stdin:
                if pty_master is not None:
                    with contextlib.suppress(OSError):
                        os.write(pty_master, data)
                elif process.stdin is not None and not process.stdin.is_closing():
                    with contextlib.suppress(ConnectionError):
                        process.stdin.write(data)
                        await process.stdin.drain()
            elif channel == RESIZE and pty_master is not None:
                with contextlib.suppress(ValueError, OSError, KeyError):
                    size = json.loads(data)
                    winsize = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
                    fcntl.ioctl(pty_master, termios.TIOCSWINSZ, winsize)
            elif (
                channel == CLOSE
                and sock.protocol == V5
                and data[:1] == bytes([STDIN])
                and process.stdin is not None
            ):
                process.stdin.close()
        # The client went away.
        sigkill(process)  # not process.kill(): see sigkill

    read_task = asyncio.ensure_future(reader())
    try:
        returncode = await process.wait()
        if pumps:
            _, pending = await asyncio.wait(pumps, timeout=5)
            for task in pending:
                task.cancel()
        exit_code = 128 - returncode if returncode < 0 else returncode
        await sock.status(exit_code, options.command)
        with contextlib.suppress(Exception):
            await ws.close()
    finally:
        read_task.cancel()
        sigkill(process)  # not process.kill(): see sigkill
        if pty_master is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(pty_master)
            with contextlib.suppress(OSError):
                os.close(pty_master)


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(32768):
        pass


async def send_error_and_close(ws: web.WebSocketResponse, request: web.Request, error: JSON) -> None:
    sock = ChannelSocket(ws, request, None)
    await sock.send(ERROR, b"")
    await sock.status(None, [], error)
    with contextlib.suppress(Exception):
        await ws.close()
