"""Serving the dashboard with uvicorn, for ``procrastinate web``."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Iterator

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "The dashboard server needs uvicorn: pip install 'procrastinate[web]'"
    ) from exc

import procrastinate
from procrastinate import signals
from procrastinate.contrib.web import dashboard, security

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by procrastinate's signal handling: the first SIGINT
    or SIGTERM stops it gracefully and the command exits with 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def force() -> None:
            self.force_exit = True

        with signals.on_stop(self._stop, force):
            yield

    def _stop(self) -> None:
        self.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """
    A socket listening on ``host:port``.

    :raises OSError: the address cannot be bound; the message says which one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"Cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    # Listening at once: a client told "Serving" before uvicorn starts is queued by
    # the kernel, not refused.
    sock.listen()
    return sock


async def serve(
    app: procrastinate.App,
    *,
    host: str,
    port: int,
    credential: security.Credential | None,
) -> None:
    """
    Serve the dashboard of ``app`` (open) on ``host:port`` until SIGINT or SIGTERM.

    :raises ValueError: ``host`` is not a loopback address and there is no
        credential.
    :raises OSError: the address cannot be bound.
    """
    security.check_exposure(host, credential)
    sock = bind(host, port)
    config = uvicorn.Config(
        dashboard.make_app(app, credential=credential),
        log_config=None,
        lifespan="off",
        server_header=False,
    )
    bound_host, bound_port = sock.getsockname()[:2]
    print(
        f"Serving the dashboard on http://{host}:{bound_port}/"
        + (" (user and password required)" if credential else ""),
        file=sys.stderr,
        flush=True,
    )
    logger.debug(
        "Dashboard socket bound",
        extra={"action": "web_bound", "host": bound_host, "port": bound_port},
    )
    with sock:
        await _Server(config).serve(sockets=[sock])
