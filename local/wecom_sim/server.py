"""A small HTTP/1.1 server on asyncio: keep-alive, Content-Length bodies, one write per response.

Python's http.server cannot answer thousands of keep-alive calls per second; this server parses requests in
``data_received`` and answers synchronous handlers without creating a task, so simple calls cost tens of microseconds.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
# How many answer times the server keeps (from a request's first byte read to its answer written), newest last.
ANSWER_TIMES_KEPT = 200_000
REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
}


@dataclass(slots=True)
class Request:
    """A parsed request: query values are the first occurrence of each name."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_ip: str


@dataclass(slots=True)
class Response:
    """A response; ``lost`` closes the connection without answering."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    lost: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


def encode(response: Response, keep_alive: bool) -> bytes:
    """Status line, headers and body in one buffer, so the kernel sends it in one segment."""
    reason = REASONS.get(response.status, "OK")
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, answer_seconds: deque[float]) -> None:
        self._handler = handler
        self._answer_seconds = answer_seconds
        self._started: float | None = None
        self._buffer = bytearray()
        self._busy = False
        self._closed = False
        self._transport: asyncio.Transport | None = None
        self._ip = ""
        self._pending: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self._ip = peer[0] if peer else ""

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True

    def data_received(self, data: bytes) -> None:
        if self._started is None:
            self._started = time.perf_counter()
        self._buffer += data
        self._drain()

    def _fail(self, status: int) -> None:
        assert self._transport is not None
        self._transport.write(encode(Response(status, b'{"errcode":40058,"errmsg":"bad request"}'), False))
        self._transport.close()
        self._closed = True

    def _drain(self) -> None:
        while not self._busy and not self._closed:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._fail(400)
                return
            head = self._buffer[:end].decode("latin-1").split("\r\n")
            try:
                method, target, version = head[0].split(" ", 2)
            except ValueError:
                self._fail(400)
                return
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._fail(411)
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail(400)
                return
            if length < 0 or length > MAX_BODY:
                self._fail(400)
                return
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            split = urlsplit(target)
            request = Request(
                method.upper(), split.path, dict(reversed(parse_qsl(split.query))), headers, body, self._ip
            )
            result = self._handler(request)
            if inspect.isawaitable(result):
                self._busy = True
                self._pending = asyncio.ensure_future(self._finish_async(result, keep_alive))
                return
            self._respond(result, keep_alive)

    async def _finish_async(self, pending: Awaitable[Response], keep_alive: bool) -> None:
        response = await pending
        self._busy = False
        self._respond(response, keep_alive)
        if not self._closed:
            self._drain()

    def _respond(self, response: Response, keep_alive: bool) -> None:
        if self._started is not None:
            answered = time.perf_counter()
            self._answer_seconds.append(answered - self._started)
            self._started = answered if self._buffer else None
        if self._closed or self._transport is None:
            return
        if response.lost:
            self._transport.abort()
            self._closed = True
            return
        self._transport.write(encode(response, keep_alive))
        if not keep_alive:
            self._transport.close()
            self._closed = True


class HttpServer:
    """Runs the asyncio server on its own thread so synchronous tests can use it."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.answer_seconds: deque[float] = deque(maxlen=ANSWER_TIMES_KEPT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and serve; returns the bound (host, port)."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self._handler, self.answer_seconds), host, port, backlog=1024
                    )
                )
                self.address = self._server.sockets[0].getsockname()[:2]
            except OSError as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="wecom-sim-http", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        assert self.address is not None
        return self.address

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None
            self._thread = None
