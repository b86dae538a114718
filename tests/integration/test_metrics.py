"""The Prometheus metrics against a real database and a real worker."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
import pytest

prometheus_client = pytest.importorskip(
    "prometheus_client", reason="install procrastinate[metrics] to test the metrics"
)

from procrastinate import app as app_module  # noqa: E402
from procrastinate import exceptions, metrics, psycopg_connector  # noqa: E402


def sample(registry: Any, name: str, **labels: str) -> float | None:
    value = registry.get_sample_value(name, labels)
    return None if value is None else float(value)


async def scrape(port: int, request: bytes | None = None) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request or b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
    await writer.drain()
    response = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition("\r\n\r\n")
    return head.splitlines()[0], body


async def test_queue_metrics(app: app_module.App, connection: psycopg.Connection[Any]):
    @app.task(queue="emails")
    def send() -> None: ...

    @app.task(queue="reports")
    def report() -> None: ...

    await send.batch_defer_async({}, {}, {})
    await report.defer_async()
    await report.configure(schedule_in={"hours": 1}).defer_async()
    # One email job runs, the first one has been waiting 100 s, the reports job 5 s.
    connection.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = 3")
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '100 s' "
        "WHERE job_id = 1 AND type = 'deferred'"
    )
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '5 s' "
        "WHERE job_id = 4 AND type = 'deferred'"
    )
    # Finished jobs are not counted (that would read the whole table).
    connection.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status) "
        "VALUES ('emails', 'send', 'succeeded')"
    )
    await app.job_manager.register_worker()
    stale = await app.job_manager.register_worker()
    connection.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
        "WHERE id = %s",
        (stale,),
    )

    registry, collector = metrics.queue_registry(app)
    await collector.refresh()

    assert sample(registry, "procrastinate_database_up") == 1
    assert sample(registry, "procrastinate_jobs", queue="emails", status="todo") == 2
    assert sample(registry, "procrastinate_jobs", queue="emails", status="doing") == 1
    assert sample(registry, "procrastinate_jobs", queue="reports", status="todo") == 2
    ready = "procrastinate_queue_ready_jobs"
    assert sample(registry, ready, queue="emails") == 2
    assert sample(registry, ready, queue="reports") == 1
    assert (
        sample(registry, "procrastinate_jobs", queue="emails", status="succeeded")
        is None
    )
    emails_age = sample(
        registry, "procrastinate_queue_oldest_ready_job_age_seconds", queue="emails"
    )
    reports_age = sample(
        registry, "procrastinate_queue_oldest_ready_job_age_seconds", queue="reports"
    )
    assert emails_age is not None
    assert 100 <= emails_age < 110
    # The scheduled reports job is not ready: the ready one waits since 5 s.
    assert reports_age is not None
    assert 5 <= reports_age < 15
    assert sample(registry, "procrastinate_workers_alive") == 1


async def test_oldest_age_of_a_job_ready_since_its_schedule(
    app: app_module.App, connection: psycopg.Connection[Any]
):
    await app.configure_task("anything", allow_unknown=True).defer_async()
    connection.execute(
        "UPDATE procrastinate_jobs SET scheduled_at = now() - interval '30 s'"
    )
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '1 hour' "
        "WHERE type = 'deferred'"
    )
    registry, collector = metrics.queue_registry(app)
    await collector.refresh()
    age = sample(
        registry, "procrastinate_queue_oldest_ready_job_age_seconds", queue="default"
    )
    assert age is not None
    assert 30 <= age < 40


async def test_database_down_is_a_metric_not_an_error():
    connector = psycopg_connector.PsycopgConnector()
    app = app_module.App(connector=connector)
    registry, collector = metrics.queue_registry(app)
    connector_error = exceptions.ConnectorException("no database")

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise connector_error

    connector.execute_query_all_async = failing  # type: ignore[method-assign]
    await collector.refresh()
    assert sample(registry, "procrastinate_database_up") == 0
    assert (
        "procrastinate_jobs{"
        not in prometheus_client.generate_latest(registry).decode()
    )


async def test_a_run_past_its_time_limit_counts_as_failed(app: app_module.App):
    @app.task(queue="q", timeout=0.1)
    async def hanging() -> None:
        await asyncio.sleep(30)

    @app.task(queue="q", timeout=0.1)
    def slow() -> None:
        time.sleep(0.3)  # returns, but after its limit

    await hanging.defer_async()
    await slow.defer_async()
    worker_metrics = metrics.WorkerMetrics()
    await app.run_worker_async(
        wait=False,
        install_signal_handlers=False,
        worker_middleware=[worker_metrics.middleware],
    )

    registry = worker_metrics.registry
    for task in (hanging, slow):
        assert (
            sample(
                registry, "procrastinate_jobs_failed_total", task=task.name, queue="q"
            )
            == 1
        )
        for other in ("succeeded", "aborted"):
            assert (
                sample(
                    registry,
                    f"procrastinate_jobs_{other}_total",
                    task=task.name,
                    queue="q",
                )
                is None
            )


async def test_worker_metrics(app: app_module.App):
    class Transient(Exception):
        pass

    @app.task(queue="q")
    async def ok() -> None:
        await asyncio.sleep(0.01)

    @app.task(queue="q", retry=1)
    async def flaky() -> None:
        raise Transient

    @app.task(queue="q")
    async def broken() -> None:
        raise ValueError("broken")

    await ok.batch_defer_async({}, {})
    await flaky.defer_async()
    await broken.defer_async()

    worker_metrics = metrics.WorkerMetrics()
    await app.run_worker_async(
        wait=False,
        install_signal_handlers=False,
        worker_middleware=[worker_metrics.middleware],
    )
    registry = worker_metrics.registry
    flaky_name = flaky.name
    assert (
        sample(registry, "procrastinate_jobs_started_total", task=ok.name, queue="q")
        == 2
    )
    assert (
        sample(registry, "procrastinate_jobs_succeeded_total", task=ok.name, queue="q")
        == 2
    )
    # flaky ran twice: once retried, once failed for good.
    assert (
        sample(registry, "procrastinate_jobs_started_total", task=flaky_name, queue="q")
        == 2
    )
    assert (
        sample(registry, "procrastinate_jobs_retried_total", task=flaky_name, queue="q")
        == 1
    )
    assert (
        sample(registry, "procrastinate_jobs_failed_total", task=flaky_name, queue="q")
        == 1
    )
    assert (
        sample(registry, "procrastinate_jobs_failed_total", task=broken.name, queue="q")
        == 1
    )
    assert (
        sample(
            registry, "procrastinate_jobs_retried_total", task=broken.name, queue="q"
        )
        is None
    )
    assert (
        sample(
            registry,
            "procrastinate_job_duration_seconds_count",
            task=ok.name,
            status="succeeded",
        )
        == 2
    )
    ok_seconds = sample(
        registry,
        "procrastinate_job_duration_seconds_sum",
        task=ok.name,
        status="succeeded",
    )
    assert ok_seconds is not None
    assert 0.02 <= ok_seconds < 5


async def test_aborted_jobs_are_counted(app: app_module.App):
    started = asyncio.Event()

    @app.task(queue="q")
    async def long() -> None:
        started.set()
        await asyncio.sleep(60)

    job_id = await long.defer_async()
    worker_metrics = metrics.WorkerMetrics()
    run = asyncio.ensure_future(
        app.run_worker_async(
            install_signal_handlers=False,
            worker_middleware=[worker_metrics.middleware],
            abort_job_polling_interval=0.05,
        )
    )
    try:
        await asyncio.wait_for(started.wait(), 10)
        assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
        for _ in range(200):
            if sample(
                worker_metrics.registry,
                "procrastinate_jobs_aborted_total",
                task=long.name,
                queue="q",
            ):
                break
            await asyncio.sleep(0.05)
        assert (
            sample(
                worker_metrics.registry,
                "procrastinate_jobs_aborted_total",
                task=long.name,
                queue="q",
            )
            == 1
        )
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_reconnects_are_counted_from_the_connectors_logs():
    worker_metrics = metrics.WorkerMetrics()
    logger = logging.getLogger("procrastinate.psycopg_connector")
    with worker_metrics.counting_reconnects():
        logger.warning("Lost it", extra={"action": "listen_notify_reconnect"})
        logger.warning("Something else", extra={"action": "other"})
    logger.warning("After the block", extra={"action": "listen_notify_reconnect"})
    assert (
        sample(worker_metrics.registry, "procrastinate_listener_reconnects_total") == 1
    )


async def test_server(app: app_module.App):
    await app.configure_task("anything", allow_unknown=True).defer_async()
    registry, collector = metrics.queue_registry(app)
    server = metrics.MetricsServer(
        registry, host="127.0.0.1", port=0, refresh=collector.refresh
    )
    async with metrics.serving(server):
        status, body = await scrape(server.bound_port)
        assert status == "HTTP/1.1 200 OK"
        assert 'procrastinate_jobs{queue="default",status="todo"} 1.0' in body
        # Each scrape reads the database again.
        await app.configure_task("anything", allow_unknown=True).defer_async()
        _, body = await scrape(server.bound_port)
        assert 'procrastinate_jobs{queue="default",status="todo"} 2.0' in body

        status, _ = await scrape(server.bound_port, b"GET /other HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 404 Not Found"
        status, _ = await scrape(server.bound_port, b"POST /metrics HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 405 Method Not Allowed"
        status, body = await scrape(server.bound_port, b"HEAD / HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 200 OK"
        assert body == ""


async def test_server_on_a_taken_port():
    registry = prometheus_client.CollectorRegistry()
    first = metrics.MetricsServer(registry, host="127.0.0.1", port=0)
    async with metrics.serving(first):
        second = metrics.MetricsServer(
            registry, host="127.0.0.1", port=first.bound_port
        )
        with pytest.raises(OSError, match=r"Cannot serve the metrics on 127\.0\.0\.1:"):
            await second.start()
