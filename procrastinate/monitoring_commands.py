"""What the command line's monitoring options do: ``procrastinate worker
--metrics-port``, ``procrastinate metrics`` and ``procrastinate web``. Importing it
needs none of the optional extras: each command imports its own when it runs."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import procrastinate


def parse_port(raw: str) -> int:
    """A TCP port number (0 picks a free one).

    :raises argparse.ArgumentTypeError: ``raw`` is not a number from 0 to 65535.
    """
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number (0 to 65535)")
    return port


def check_worker_options(options: dict[str, Any]) -> None:
    """Check the worker's metrics options, before the worker starts.

    :raises ValueError: ``--metrics-host`` without ``--metrics-port``.
    """
    if options.get("metrics_port") is None and options.get("metrics_host"):
        raise ValueError("--metrics-host needs --metrics-port: give both")


async def run_worker(
    app: procrastinate.App,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
    **kwargs: Any,
) -> None:
    """Run a worker until stopped, serving its Prometheus metrics when
    ``metrics_port`` is given (the ``metrics`` extra is then needed)."""
    if metrics_port is None:
        await app.run_worker_async(**kwargs)
        return
    from procrastinate import metrics

    await metrics.run_worker_with_metrics(
        app, port=metrics_port, host=metrics_host or metrics.DEFAULT_HOST, **kwargs
    )


async def serve_web(app: procrastinate.App, port: int, host: str) -> None:
    """Serve the dashboard until interrupted.

    :raises ValueError: the credential variable is malformed, or missing for a
        non-loopback address.
    """
    from procrastinate.contrib.web import security, server

    raw = os.environ.get(security.CREDENTIAL_VARIABLE)
    credential = security.Credential.parse(raw) if raw else None
    await server.serve(app, host=host, port=port, credential=credential)


async def serve_metrics(app: procrastinate.App, port: int, host: str) -> None:
    """Serve the queue-level metrics until interrupted."""
    from procrastinate import metrics

    await metrics.serve_queue_metrics(app, port=port, host=host)
