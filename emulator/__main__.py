"""`python -m emulator`: serve the emulated Run:ai control plane.

The start-up lines go to stdout, one fact per line, so a script can read them:

    emulator: listening on http://127.0.0.1:8787
    emulator: cluster id <uuid>
    emulator: client id emulator-admin
    emulator: client secret <secret>

Request logs go to stderr. Stop the server with Ctrl-C or SIGTERM. When it
cannot start (a bad option, a database it cannot use, a port it cannot bind),
it prints one line `emulator: cannot start: <why and how to fix it>` on stderr
and exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._clock import PROGRESS_DEADLINE_SECONDS
from ._server import bind, serve_forever, url_of
from ._state import DEFAULT_CLIENT_ID, DEFAULT_CLUSTER_ID, Emulator, StartupError

_PREFIX = "emulator: cannot start:"
_MAX_PORT = 65535


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, open the database, print the start-up lines, serve."""
    options = _parser().parse_args(argv)
    try:
        emulator = _open(options)
    except (StartupError, ValueError) as error:
        return _refuse(str(error))

    try:
        sock = bind(options.host, options.port)
    except OSError as error:
        emulator.close()
        return _refuse(
            f"cannot listen on {options.host}:{options.port} ({error});"
            " check --host, or choose another --port (--port 0 picks a free one)"
        )

    # Set up only now, so that a refused start prints its one line and no more.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _announce(emulator, sock)
    serve_forever(emulator, sock)
    return 0


def _open(options: argparse.Namespace) -> Emulator:
    return Emulator.open(
        options.db,
        speed=options.speed,
        client_id=options.client_id,
        client_secret=options.client_secret,
        cluster_id=options.cluster_id,
        token_ttl=options.token_ttl,
        progress_deadline=options.progress_deadline,
    )


def _refuse(reason: str) -> int:
    print(f"{_PREFIX} {reason}", file=sys.stderr)
    return 2


def _announce(emulator: Emulator, sock: socket.socket) -> None:
    settings = emulator.settings
    for line in (
        f"listening on {url_of(sock)}",
        f"cluster id {settings.cluster_id}",
        f"client id {settings.client_id}",
        f"client secret {settings.client_secret}",
    ):
        print(f"emulator: {line}", flush=True)


class _Parser(argparse.ArgumentParser):
    """Reports a bad option as one line, like every other start-up failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2, f"{_PREFIX} {message}; python -m emulator --help lists the options\n"
        )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= _MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a TCP port; use 0 to {_MAX_PORT} (0 picks a free port)"
        )
    return port


def _client_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty; give the id clients send as clientID"
            f" (default {DEFAULT_CLIENT_ID})"
        )
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m emulator",
        description="Emulate the NVIDIA Run:ai control-plane REST API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=_port, default=8787, help="0 picks a free port")
    parser.add_argument(
        "--db",
        default="runai-emulator.db",
        help="SQLite file holding the state (default: %(default)s in the cwd)",
    )
    parser.add_argument("--client-id", type=_client_id, default=DEFAULT_CLIENT_ID)
    parser.add_argument(
        "--client-secret",
        default=None,
        help="default: $RUNAI_CLIENT_SECRET, else one generated and kept in the db",
    )
    parser.add_argument(
        "--cluster-id",
        default=None,
        help=f"UUID of the cluster of a new db (default: {DEFAULT_CLUSTER_ID})",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="divide every lifecycle duration by this factor (default: 1.0)",
    )
    parser.add_argument(
        "--progress-deadline",
        type=float,
        default=PROGRESS_DEADLINE_SECONDS,
        help="seconds a rolling update may take before it is stopped and its new"
        " revision removed, divided by --speed (default: %(default)g, Knative's)",
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=3600,
        help="access token lifetime in seconds (default: %(default)s)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
