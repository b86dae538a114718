"""OpenTelemetry spans of defers and job runs, recorded by the SDK's in-memory
exporter, with a real database and a real worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip(
    "opentelemetry.sdk", reason="install the test group (opentelemetry-sdk)"
)

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from procrastinate import app as app_module
from procrastinate import sync_psycopg_connector, tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def spans(exporter: InMemorySpanExporter, kind: trace.SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == kind]


async def test_defer_span_is_a_child_of_the_current_span(
    app: app_module.App, provider: TracerProvider, exporter: InMemorySpanExporter
):
    @app.task(queue="emails", lock="user-1")
    def send(to: str) -> None: ...

    tracing.instrument(app, tracer_provider=provider)
    request_tracer = provider.get_tracer("web")
    with request_tracer.start_as_current_span("POST /signup") as request:
        job_id = await send.defer_async(to="a@example.org")

    (span,) = spans(exporter, trace.SpanKind.PRODUCER)
    assert span.name == "send emails"
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id
    assert span.context.trace_id == request.get_span_context().trace_id
    assert dict(span.attributes or {}) == {
        "messaging.system": "procrastinate",
        "messaging.operation.type": "send",
        "messaging.operation.name": "defer",
        "messaging.destination.name": "emails",
        "messaging.message.id": str(job_id),
        "procrastinate.task.name": send.name,
        "procrastinate.job.lock": "user-1",
    }


def test_sync_batch_defer_span(
    app: app_module.App,
    sync_connector_open: sync_psycopg_connector.SyncPsycopgConnector,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
):
    sync_app = app_module.App(connector=sync_connector_open)

    @sync_app.task(queue="reports")
    def report(n: int) -> None: ...

    tracing.instrument(sync_app, tracer_provider=provider)
    tracing.instrument(sync_app, tracer_provider=provider)  # a second call: no-op
    ids = report.batch_defer({"n": 1}, {"n": 2})
    assert report.batch_defer() == []

    (span,) = spans(exporter, trace.SpanKind.PRODUCER)
    attributes = dict(span.attributes or {})
    assert attributes["messaging.batch.message_count"] == 2
    assert list(attributes["procrastinate.job.ids"]) == [str(i) for i in ids]
    assert "messaging.message.id" not in attributes


async def test_failed_defer_span(
    app: app_module.App, provider: TracerProvider, exporter: InMemorySpanExporter
):
    tracing.instrument(app, tracer_provider=provider)
    deferrer = app.configure_task("t", allow_unknown=True, queueing_lock="one")
    await deferrer.defer_async()
    with pytest.raises(Exception, match="queueing lock"):
        await deferrer.defer_async()
    first, second = spans(exporter, trace.SpanKind.PRODUCER)
    assert first.status.status_code == trace.StatusCode.UNSET
    assert second.status.status_code == trace.StatusCode.ERROR
    assert [event.name for event in second.events] == ["exception"]


async def test_process_spans(
    app: app_module.App, provider: TracerProvider, exporter: InMemorySpanExporter
):
    inner_tracer = provider.get_tracer("tasks")

    @app.task(queue="q")
    def ok() -> None:
        # A sync task runs in a thread: its own spans still nest in the job's span.
        with inner_tracer.start_as_current_span("inside"):
            pass

    @app.task(queue="q", retry=1)
    async def flaky() -> None:
        raise ValueError("flaky")

    tracing.instrument(app, tracer_provider=provider)
    ok_id = await ok.defer_async()
    flaky_id = await flaky.defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    process = spans(exporter, trace.SpanKind.CONSUMER)
    by_job: dict[str, list[ReadableSpan]] = {}
    for span in process:
        by_job.setdefault(
            str((span.attributes or {})["messaging.message.id"]), []
        ).append(span)
    (ok_span,) = by_job[str(ok_id)]
    assert ok_span.name == "process q"
    ok_attributes: dict[str, Any] = dict(ok_span.attributes or {})
    assert ok_attributes["messaging.operation.type"] == "process"
    assert ok_attributes["messaging.destination.name"] == "q"
    assert ok_attributes["procrastinate.task.name"] == ok.name
    assert ok_attributes["procrastinate.job.outcome"] == "succeeded"
    assert ok_attributes["procrastinate.job.attempts"] == 0
    assert isinstance(ok_attributes["procrastinate.worker.id"], int)
    assert ok_span.status.status_code == trace.StatusCode.UNSET
    (inside,) = [s for s in exporter.get_finished_spans() if s.name == "inside"]
    assert inside.parent is not None
    assert inside.parent.span_id == ok_span.context.span_id

    first, second = by_job[str(flaky_id)]
    assert [
        dict(s.attributes or {})["procrastinate.job.outcome"] for s in (first, second)
    ] == [
        "retried",
        "failed",
    ]
    assert dict(second.attributes or {})["procrastinate.job.attempts"] == 1
    assert second.status.status_code == trace.StatusCode.ERROR
    assert second.status.description == "ValueError"
    (event,) = second.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.message"] == "flaky"


async def test_explicit_worker_middleware_is_left_alone(
    app: app_module.App, provider: TracerProvider, exporter: InMemorySpanExporter
):
    @app.task
    async def ok() -> None:
        await asyncio.sleep(0)

    tracing.instrument(app, tracer_provider=provider)
    await ok.defer_async()
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, worker_middleware=[]
    )
    assert spans(exporter, trace.SpanKind.CONSUMER) == []


async def test_one_trace_goes_from_the_request_to_the_run(
    app: app_module.App,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    connection: Any,
):
    @app.task(queue="emails")
    async def send(to: str) -> None:
        with provider.get_tracer("tasks").start_as_current_span("smtp"):
            await asyncio.sleep(0)

    tracing.instrument(app, tracer_provider=provider)
    with provider.get_tracer("web").start_as_current_span("POST /signup") as request:
        job_id = await send.defer_async(to="a@example.org")
    (metadata,) = connection.execute(
        "SELECT metadata FROM procrastinate_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    (defer,) = spans(exporter, trace.SpanKind.PRODUCER)
    (run,) = spans(exporter, trace.SpanKind.CONSUMER)
    (smtp,) = [span for span in exporter.get_finished_spans() if span.name == "smtp"]
    trace_id = request.get_span_context().trace_id
    assert {defer.context.trace_id, run.context.trace_id, smtp.context.trace_id} == {
        trace_id
    }
    assert run.parent is not None
    assert run.parent.span_id == defer.context.span_id
    assert [link.context.span_id for link in run.links] == [defer.context.span_id]
    assert smtp.parent is not None
    assert smtp.parent.span_id == run.context.span_id
    traceparent = metadata["trace_context"]["traceparent"]
    flags = defer.context.trace_flags
    assert traceparent == f"00-{trace_id:032x}-{defer.context.span_id:016x}-{flags:02x}"


async def test_nothing_is_stored_per_job_without_a_recording_tracer(
    app: app_module.App, connection: Any, exporter: InMemorySpanExporter
):
    @app.task
    async def ok() -> None: ...

    # The API alone (no SDK) records nothing: there is no context to carry.
    tracing.instrument(app, tracer_provider=trace.NoOpTracerProvider())
    await ok.batch_defer_async({}, {})
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    rows = connection.execute(
        "SELECT status::text, metadata FROM procrastinate_jobs ORDER BY id"
    ).fetchall()
    assert rows == [("succeeded", None), ("succeeded", None)]
