"""The production server: uvicorn on its HTTP/1.1 protocol (h11), with the client timeouts it lacks (SPEC §15).

uvicorn bounds the open connections (``limit_concurrency``: a request beyond them is answered 503) and
closes a kept-alive connection left idle (``timeout_keep_alive``), but it waits for ever on a client that
sends its request head slowly, pauses in its body, or trickles the rest of a body already answered. So:

- the request line and headers must be complete ``PV_HEADER_TIMEOUT_SECONDS`` after the connection opens,
  or after the first byte of a next request on a kept-alive one; else the connection is closed without an
  answer, as nginx's ``client_header_timeout`` does (h11 cannot answer a request it has not parsed);
- a request body may pause at most ``PV_BODY_TIMEOUT_SECONDS`` between two of its parts while the service
  reads it (``BodyTimeout``); past that the request is answered 408 and the connection closed;
- once a request is answered the connection is idle, whatever the client still sends: the rest of a body
  the service did not read (refused by its Content-Length, or unauthenticated) may pause at most
  ``PV_IDLE_TIMEOUT_SECONDS``, like a kept-alive connection between requests.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import h11
import uvicorn
from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import H11Protocol

from pv_service.config import Settings
from pv_service.errors import Problem
from pv_service.rules.personal_identifiers import redact_personal_identifiers
from pv_service.rules.text import Text
from pv_service.users.service import TOKEN_PATTERN

# Time left to requests under way when the service is stopped (SIGTERM), within a usual 30 s grace period.
GRACEFUL_SHUTDOWN_SECONDS = 20


class BodyTimedOut(Problem):
    """408: the request body stopped arriving while the service read it."""

    def __init__(self, seconds: int) -> None:
        super().__init__(408, Text("No part of the request body arrived for {seconds} seconds.", {"seconds": seconds}))


class BodyTimeout:
    """ASGI wrapper: a request body that pauses longer than ``seconds`` between two of its parts while the
    application waits for it is answered 408 (nginx's ``client_body_timeout``: the time between two reads,
    not the time of the whole body).

    The 408 is raised from ``receive``, inside the application's reading of the body: it is answered like any
    problem (a page's error page on the pages), and nothing has been written, since every write path reads its
    whole body before writing. The answer then closes the connection, whose body is left half sent."""

    def __init__(self, app: ASGIApp, seconds: int) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_pending = True
        timed_out = False

        async def timed_receive() -> Any:
            nonlocal body_pending, timed_out
            if not body_pending:  # later calls wait for the client to leave, for as long as the answer takes
                return await receive()
            try:
                async with asyncio.timeout(self.seconds):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise BodyTimedOut(self.seconds) from None
            body_pending = message["type"] == "http.request" and message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), CLOSE_HEADER]
            await send(message)

        await self.app(scope, timed_receive, closing_send)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the client whenever the service is not the one at work:
    ``header_timeout`` while a request head is due, the idle timeout once the last request is answered.

    uvicorn arms its keep-alive timer when a response completes and cancels it on any data received, never
    arming it again before the next response: a client trickling the rest of a body already answered, or the
    first bytes of a head, would hold the connection for ever. ``_set_deadline`` runs after each of the
    three events that change what is awaited (connection made, data received, response complete)."""

    header_timeout: int  # set by ``serve`` from the settings: uvicorn makes one protocol a connection from the class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_task: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._set_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._set_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._unset_header_timeout()

    def _set_deadline(self) -> None:
        if self.transport.is_closing():
            self._unset_header_timeout()
            return
        # A head is due on a new connection, and on a kept-alive one once a next request's first bytes are in.
        head_due = self.conn.their_state is h11.IDLE and (self.cycle is None or bool(self.conn.trailing_data[0]))
        if head_due:
            self._unset_keepalive_if_required()
            if self.header_timeout_task is None:  # counted from the first byte, not the last
                self.header_timeout_task = self.loop.call_later(self.header_timeout, self._close_slow_client)
            return
        self._unset_header_timeout()
        answered = self.cycle is not None and self.cycle.response_complete
        if answered and self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _unset_header_timeout(self) -> None:
        if self.header_timeout_task is not None:
            self.header_timeout_task.cancel()
            self.header_timeout_task = None

    def _close_slow_client(self) -> None:
        self.header_timeout_task = None
        self.transport.close()


def redact_access_line(record: logging.LogRecord) -> bool:
    """Keep an access line, its path and query read as text with any identifier or token a client put in
    them replaced by its kind: a log is read by more people than the cases."""
    if isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, version, status = record.args
        text = TOKEN_PATTERN.sub("[token]", unquote_plus(str(path)))
        record.args = (client, method, redact_personal_identifiers(text), version, status)
    return True


def serve(
    app: Litestar,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    uds: str | None = None,
    fd: int | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve ``app`` with the connection limit and client timeouts of its settings until SIGINT or SIGTERM.

    ``uds`` (a UNIX socket path) or ``fd`` (an open socket's descriptor), when given, is listened on instead of
    ``host`` and ``port``."""
    settings: Settings = app.state.context.settings

    class Protocol(TimedH11Protocol):
        header_timeout = settings.header_timeout_seconds

    config = uvicorn.Config(
        BodyTimeout(app, settings.body_timeout_seconds),
        host=host,
        port=port,
        uds=uds,
        fd=fd,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        http=Protocol,
        lifespan="on",
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.idle_timeout_seconds,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_level=log_level,
    )
    logging.getLogger("uvicorn.access").addFilter(redact_access_line)
    uvicorn.Server(config).run()
    if uds:
        Path(uds).unlink(missing_ok=True)
