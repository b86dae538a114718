"""Prometheus metrics of procrastinate (the ``metrics`` extra: ``prometheus_client``).

Two kinds of metrics:

- queue-level ones, read from the database at each scrape by :class:`QueueCollector`:
  live jobs per queue and status, the jobs ready to run and the age of the oldest
  of them per queue, the workers alive. One scraper per database is enough: ``procrastinate metrics``.
- worker-level ones, counted in the worker's process by :class:`WorkerMetrics`: jobs
  started, succeeded, failed, retried and aborted per task, job durations, reconnects
  of the LISTEN connection. ``procrastinate worker --metrics-port`` serves them with
  the queue-level ones.

:class:`MetricsServer` serves a registry over HTTP on the event loop of its process,
so that the queue-level queries run on the app's own asynchronous connector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from procrastinate import utils

try:
    import prometheus_client
    from prometheus_client import core, registry
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise utils.missing_extra("The metrics", "prometheus_client", "metrics") from exc

from procrastinate import exceptions, monitoring, signals, worker

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import job_context

logger = logging.getLogger(__name__)

DEFAULT_HOST = "0.0.0.0"
# Job durations, in seconds: from a quick database write to a long batch job.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
)
REQUEST_TIMEOUT = 10.0
MAX_HEADER_LINES = 100
RECONNECT_ACTION = "listen_notify_reconnect"


class QueueCollector(registry.Collector):
    """
    The queue-level metrics, as of the last :meth:`refresh`. A failed refresh is not
    an error of the scrape: ``procrastinate_database_up`` becomes 0 and the other
    queue-level metrics are left out, so that no stale figure is served.
    """

    def __init__(self, app: app_module.App, alive_seconds: float | None = None):
        self.app = app
        self.alive_seconds = (
            monitoring.alive_seconds() if alive_seconds is None else alive_seconds
        )
        self.rows: list[dict[str, Any]] = []
        self.up = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the figures from the database; concurrent scrapes share one query."""
        async with self._lock:
            try:
                self.rows = await self.app.connector.execute_query_all_async(
                    monitoring.queries["metrics_snapshot"],
                    seconds_since_heartbeat=self.alive_seconds,
                )
            except exceptions.ConnectorException as exc:
                logger.warning(
                    f"Could not read the queue metrics from the database: {exc}",
                    extra={"action": "metrics_query_error"},
                )
                self.rows, self.up = [], False
                return
            self.up = True

    def collect(self) -> Iterator[core.Metric]:
        """The metric families of the last snapshot (prometheus_client's API)."""
        up = core.GaugeMetricFamily(
            "procrastinate_database_up",
            "Whether the last read of the queue metrics from the database worked",
        )
        up.add_metric([], 1.0 if self.up else 0.0)
        yield up
        if not self.up:
            return
        jobs = core.GaugeMetricFamily(
            "procrastinate_jobs",
            "Live jobs (todo, doing) per queue and status",
            labels=["queue", "status"],
        )
        oldest = core.GaugeMetricFamily(
            "procrastinate_queue_oldest_ready_job_age_seconds",
            "Seconds the oldest job ready to run of each queue has been waiting",
            labels=["queue"],
        )
        ready = core.GaugeMetricFamily(
            "procrastinate_queue_ready_jobs",
            "Jobs of each queue ready to run now (waiting, not scheduled for later)",
            labels=["queue"],
        )
        alive = core.GaugeMetricFamily(
            "procrastinate_workers_alive",
            "Workers whose heartbeat is recent",
        )
        for row in self.rows:
            if row["metric"] == "jobs":
                jobs.add_metric([row["queue"], row["status"]], row["value"])
            elif row["metric"] == "oldest_ready_job_age":
                oldest.add_metric([row["queue"]], row["value"])
            elif row["metric"] == "ready_jobs":
                ready.add_metric([row["queue"]], row["value"])
            else:
                alive.add_metric([], row["value"])
        yield from (jobs, ready, oldest, alive)


class ReconnectCounter(logging.Handler):
    """Counts the reconnections of the LISTEN connection that connectors log."""

    def __init__(self, counter: prometheus_client.Counter) -> None:
        super().__init__(level=logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record if it is a reconnection (logging's API)."""
        if getattr(record, "action", None) == RECONNECT_ACTION:
            self.counter.inc()


class WorkerMetrics:
    """
    The counters and histograms of one worker process, in ``registry`` (a new one by
    default). :meth:`middleware` is the worker middleware that feeds them; it decides
    what a job's outcome means with the worker's own :func:`~procrastinate.worker.
    outcome_of`, so that its figures match the worker's logs.
    """

    def __init__(self, registry: registry.CollectorRegistry | None = None) -> None:
        self.registry = registry or prometheus_client.CollectorRegistry()
        labels = ["task", "queue"]

        def counter(name: str, what: str) -> prometheus_client.Counter:
            return prometheus_client.Counter(
                f"procrastinate_jobs_{name}",
                f"Jobs {what}, per task and queue",
                labels,
                registry=self.registry,
            )

        self.started = counter("started", "started by this worker")
        self.succeeded = counter("succeeded", "that ended without error")
        self.failed = counter("failed", "that failed with no retry left")
        self.retried = counter("retried", "that failed and were scheduled for a retry")
        self.aborted = counter("aborted", "aborted while running")
        self.duration = prometheus_client.Histogram(
            "procrastinate_job_duration_seconds",
            "Duration of job runs, per task and final status of the run",
            ["task", "status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.listener_reconnects = prometheus_client.Counter(
            "procrastinate_listener_reconnects",
            "Reconnections of the connection that listens for new jobs",
            registry=self.registry,
        )

    async def middleware(
        self,
        call_next: Callable[[], Awaitable[Any]],
        context: job_context.JobContext,
        worker_: worker.Worker,
    ) -> Any:
        """Worker middleware: count the job's start, outcome and duration."""
        job = context.job
        labels = (job.task_name, job.queue)
        self.started.labels(*labels).inc()
        start = time.monotonic()
        try:
            result = await call_next()
        except BaseException as exc:
            outcome = worker.outcome_of(exc, context.task, job, context.abort_reason())
            self._record(labels, outcome, time.monotonic() - start)
            raise
        # A run that returns after its time limit still failed.
        outcome = worker.outcome_of(None, context.task, job, context.abort_reason())
        self._record(labels, outcome, time.monotonic() - start)
        return result

    def _record(
        self, labels: tuple[str, str], outcome: worker.Outcome, duration: float
    ) -> None:
        self.duration.labels(labels[0], outcome.status.value).observe(duration)
        if outcome.retry is not None:
            self.retried.labels(*labels).inc()
            return
        counters = {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "aborted": self.aborted,
        }
        counters[outcome.status.value].labels(*labels).inc()

    @contextlib.contextmanager
    def counting_reconnects(self) -> Iterator[None]:
        """Inside the block, count the reconnections procrastinate logs."""
        handler = ReconnectCounter(self.listener_reconnects)
        procrastinate_logger = logging.getLogger("procrastinate")
        procrastinate_logger.addHandler(handler)
        try:
            yield
        finally:
            procrastinate_logger.removeHandler(handler)


class MetricsServer:
    """
    Serves a registry in the Prometheus text format on ``GET /metrics`` (and ``/``),
    awaiting ``refresh`` before each scrape. It runs on the current event loop.
    """

    def __init__(
        self,
        registry: registry.CollectorRegistry,
        *,
        host: str = DEFAULT_HOST,
        port: int,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.refresh = refresh
        self._server: asyncio.Server | None = None

    @property
    def bound_port(self) -> int:
        """The port listened on (useful with port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """
        Start listening.

        :raises OSError: the address cannot be bound (port in use, unknown host); the
            message says which address.
        """
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port
            )
        except OSError as exc:
            raise OSError(
                f"Cannot serve the metrics on {self.host}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        logger.debug(
            f"Metrics server listening on {self.host}:{self.bound_port}",
            extra={"action": "metrics_server_started", "port": self.bound_port},
        )

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        return f"http://{self.host}:{self.bound_port}/metrics"

    async def close(self) -> None:
        """Stop listening and wait for the current requests."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await asyncio.wait_for(_read_request(reader), REQUEST_TIMEOUT)
            status, content_type, body = await self._respond(request)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if request[0] != "HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, request: tuple[str, str]) -> tuple[str, str, bytes]:
        method, path = request
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"Only GET is served\n"
        if path.split("?", 1)[0] not in ("/", "/metrics"):
            return "404 Not Found", "text/plain", b"The metrics are at /metrics\n"
        if self.refresh is not None:
            await self.refresh()
        body = prometheus_client.generate_latest(self.registry)
        return "200 OK", prometheus_client.CONTENT_TYPE_LATEST, body


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of an HTTP request; its headers are read and ignored.

    :raises ValueError: not an HTTP request line, or too many headers.
    """
    method, path, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            return method, path
    raise ValueError("Too many header lines")


@contextlib.asynccontextmanager
async def serving(server: MetricsServer) -> AsyncIterator[MetricsServer]:
    """Run ``server`` for the duration of the block."""
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def queue_registry(
    app: app_module.App,
) -> tuple[registry.CollectorRegistry, QueueCollector]:
    """A registry holding only the queue-level metrics of ``app``'s database."""
    collector = QueueCollector(app)
    queue_metrics = prometheus_client.CollectorRegistry()
    queue_metrics.register(collector)
    return queue_metrics, collector


async def run_worker_with_metrics(
    app: app_module.App, *, port: int, host: str = DEFAULT_HOST, **options: Any
) -> None:
    """
    Run a worker of ``app`` (with ``options``, as :meth:`~procrastinate.App.
    run_worker_async`) that serves its metrics and the queue-level ones on
    ``host:port`` while it runs. The metrics middleware comes first, around the
    worker middleware of ``options`` or of the app's ``worker_defaults``.

    :raises OSError: the address cannot be bound.
    """
    metrics = WorkerMetrics()
    collector = QueueCollector(app)
    metrics.registry.register(collector)
    for extra in (
        prometheus_client.ProcessCollector,
        prometheus_client.PlatformCollector,
    ):
        extra(registry=metrics.registry)
    middlewares = options.get("worker_middleware")
    if middlewares is None:
        middlewares = app.worker_defaults.get("worker_middleware") or []
    options["worker_middleware"] = [metrics.middleware, *middlewares]
    server = MetricsServer(
        metrics.registry, host=host, port=port, refresh=collector.refresh
    )
    async with serving(server):
        logger.info(
            f"Serving the worker's metrics on {server.url}",
            extra={"action": "worker_metrics_served", "port": server.bound_port},
        )
        with metrics.counting_reconnects():
            await app.run_worker_async(**options)


async def serve_queue_metrics(
    app: app_module.App, *, port: int, host: str = DEFAULT_HOST
) -> None:
    """
    Serve the queue-level metrics of ``app``'s database on ``host:port`` until
    SIGINT or SIGTERM (or cancellation).

    :raises OSError: the address cannot be bound.
    """
    queue_metrics, collector = queue_registry(app)
    stopped = asyncio.Event()
    server = MetricsServer(
        queue_metrics, host=host, port=port, refresh=collector.refresh
    )
    async with serving(server):
        print(f"Serving the metrics on {server.url}", file=sys.stderr, flush=True)
        with signals.on_stop(stopped.set, stopped.set):
            await stopped.wait()
