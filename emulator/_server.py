"""Running the app with uvicorn: in the foreground (CLI) or in a test thread.

The listening socket is bound before uvicorn starts, so the real port is known
even when port 0 asked the OS to pick one, and a client that connects as soon
as the start-up lines appear waits in the backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from ._app import build_app
from ._clock import PROGRESS_DEADLINE_SECONDS
from ._state import DEFAULT_CLIENT_ID, Emulator

__all__ = [
    "EmulatorServer",
    "bind",
    "serve_forever",
    "serve_in_background",
    "url_of",
]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_EXIT_POLL = 0.01
_TICK = 0.1


class _Server(uvicorn.Server):
    """Uvicorn's server, noticing a stop request within 10 ms instead of 100 ms.

    Tests start and stop an emulator per test, so the stop latency adds up.
    Uvicorn's own loop runs `on_tick` every 0.1 s and relies on that pace (it
    refreshes the Date header every tenth tick); this loop keeps the pace and
    only looks at `should_exit` more often in between.
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            waited = 0.0
            while waited < _TICK and not self.should_exit:
                await asyncio.sleep(_EXIT_POLL)
                waited += _EXIT_POLL


@dataclasses.dataclass
class EmulatorServer:
    """A running emulator: where it listens and how to log in to it."""

    base_url: str
    cluster_id: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    db_path: Path
    _server: uvicorn.Server = dataclasses.field(repr=False)
    _thread: threading.Thread = dataclasses.field(repr=False)
    _emulator: Emulator = dataclasses.field(repr=False)

    def stop(self) -> None:
        """Stop serving and close the database; safe to call twice."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
        self._emulator.close()


@contextmanager
def serve_in_background(
    db_path: str | Path,
    *,
    speed: float = 1.0,
    client_secret: str | None = None,
    token_ttl: int = 3600,
    client_id: str = DEFAULT_CLIENT_ID,
    cluster_id: str | None = None,
    progress_deadline: float = PROGRESS_DEADLINE_SECONDS,
) -> Iterator[EmulatorServer]:
    """Serve the emulator on 127.0.0.1 and a free port for the `with` block.

    Uvicorn runs in a daemon thread; the block starts once the server answers,
    and the server stops and the database closes when the block ends.
    `progress_deadline` is in emulated seconds, divided by `speed` like every
    other duration.
    """
    emulator = Emulator.open(
        db_path,
        speed=speed,
        client_id=client_id,
        client_secret=client_secret,
        cluster_id=cluster_id,
        token_ttl=token_ttl,
        progress_deadline=progress_deadline,
    )
    handle = _start(emulator)
    try:
        yield handle
    finally:
        handle.stop()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it every small reply waits out a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_forever(emulator: Emulator, sock: socket.socket) -> None:
    """Serve on `sock` until interrupted (SIGINT or SIGTERM), then close."""
    server = _Server(_config(emulator, log_level="info"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        emulator.close()


def url_of(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _start(emulator: Emulator) -> EmulatorServer:
    try:
        sock = bind("127.0.0.1", 0)
    except BaseException:
        emulator.close()
        raise
    server = _Server(_config(emulator, log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="emulator", daemon=True
    )
    handle = EmulatorServer(
        base_url=url_of(sock),
        cluster_id=emulator.settings.cluster_id,
        client_id=emulator.settings.client_id,
        client_secret=emulator.settings.client_secret,
        db_path=emulator.store.path,
        _server=server,
        _thread=thread,
        _emulator=emulator,
    )
    thread.start()
    try:
        _wait_started(server, thread)
    except BaseException:
        handle.stop()
        sock.close()
        raise
    return handle


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the emulator server thread exited during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the emulator did not start within {_START_TIMEOUT} s")
        time.sleep(0.005)


def _config(emulator: Emulator, *, log_level: str) -> uvicorn.Config:
    # No uvicorn logging config (the host program's logging stays as it is),
    # no access log (it would print query strings), no websockets or lifespan.
    return uvicorn.Config(
        build_app(emulator),
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
