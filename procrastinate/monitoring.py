"""What the monitoring tools (the Prometheus metrics, the web dashboard) share: their
named queries, from ``sql/monitoring.sql``, and when a worker counts as alive."""

from __future__ import annotations

import inspect

from procrastinate import sql, worker

queries = sql.monitoring_queries


def alive_seconds() -> float:
    """Seconds without a heartbeat after which a worker counts as dead: the default
    ``stalled_worker_timeout`` of workers, after which they are pruned."""
    parameters = inspect.signature(worker.Worker.__init__).parameters
    return float(parameters["stalled_worker_timeout"].default)
