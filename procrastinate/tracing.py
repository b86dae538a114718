"""OpenTelemetry tracing of defers and job runs (the ``opentelemetry`` extra: only
``opentelemetry-api`` at run time; the application configures the SDK and exporter).

:func:`instrument` makes an app create:

- a ``send <queue>`` span (kind PRODUCER) around each defer, child of the span current
  at the call (the web request that deferred, for instance);
- a ``process <queue>`` span (kind CONSUMER) around each run of a job by a worker, the
  parent of whatever the task itself traces.

Both carry the attributes of the OpenTelemetry messaging conventions
(``messaging.system``, ``messaging.operation.type``, ``messaging.destination.name``,
``messaging.message.id``: the job id) plus ``procrastinate.*`` ones.

The defer stores the W3C trace context of its span (``traceparent``, ``tracestate``,
through OpenTelemetry's propagator API) in each job's ``metadata``, under
``trace_context``; the run span continues it: it is a child of the defer span, in the
same trace, and links to it, as the conventions ask of a ``process`` span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from procrastinate import utils

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise utils.missing_extra("Traces", "opentelemetry-api", "opentelemetry") from exc

import procrastinate
from procrastinate import jobs, worker

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import job_context

SYSTEM = "procrastinate"
_INSTRUMENTED = "_procrastinate_tracing"
#: The key of a job's ``metadata`` that holds the trace context of its defer.
TRACE_CONTEXT = "trace_context"


def with_trace_context(jobs_to_defer: list[jobs.Job]) -> list[jobs.Job]:
    """
    The jobs carrying the trace context current now (that of the defer span), in
    their ``metadata``; the same list when there is none to carry (no span is
    recorded, as without an SDK), so that nothing is stored per job then.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return jobs_to_defer
    return [
        job.evolve(metadata={**(job.metadata or {}), TRACE_CONTEXT: carrier})
        for job in jobs_to_defer
    ]


def creation_context(job: jobs.Job) -> otel_context.Context | None:
    """
    The OpenTelemetry context that deferred ``job``, read from its ``metadata``;
    ``None`` when it has none (deferred without tracing, by procrastinate 3.x, or
    periodically).
    """
    carrier = (job.metadata or {}).get(TRACE_CONTEXT)
    if not isinstance(carrier, dict):
        return None
    context = propagate.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def defer_attributes(jobs_to_defer: Sequence[jobs.Job]) -> dict[str, Any]:
    """The attributes of a defer span, before the jobs have ids."""
    first = jobs_to_defer[0]
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "defer",
        "messaging.destination.name": first.queue,
        "procrastinate.task.name": first.task_name,
    }
    if len(jobs_to_defer) > 1:
        attributes["messaging.batch.message_count"] = len(jobs_to_defer)
    if first.lock is not None:
        attributes["procrastinate.job.lock"] = first.lock
    if first.queueing_lock is not None:
        attributes["procrastinate.job.queueing_lock"] = first.queueing_lock
    return attributes


def process_attributes(job: jobs.Job) -> dict[str, Any]:
    """The attributes of the span of a job's run."""
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "messaging.destination.name": job.queue,
        "messaging.message.id": str(job.id),
        "procrastinate.task.name": job.task_name,
        "procrastinate.job.attempts": job.attempts,
    }
    if job.lock is not None:
        attributes["procrastinate.job.lock"] = job.lock
    if job.worker_id is not None:
        attributes["procrastinate.worker.id"] = job.worker_id
    return attributes


@contextlib.contextmanager
def _defer_span(
    tracer: trace.Tracer, jobs_to_defer: Sequence[jobs.Job]
) -> Iterator[Callable[[Sequence[jobs.Job]], None]]:
    """The span of a defer of jobs (at least one); the block calls the function it
    gets with the deferred jobs, to add their ids."""
    with tracer.start_as_current_span(
        f"send {jobs_to_defer[0].queue}",
        kind=trace.SpanKind.PRODUCER,
        attributes=defer_attributes(jobs_to_defer),
    ) as span:

        def record(deferred: Sequence[jobs.Job]) -> None:
            ids = [str(job.id) for job in deferred if job.id is not None]
            if len(ids) == 1:
                span.set_attribute("messaging.message.id", ids[0])
            elif ids:
                span.set_attribute("procrastinate.job.ids", ids)

        yield record


class TracingMiddleware:
    """
    Worker middleware that runs each job inside a ``process <queue>`` span. The span
    ends with the job's outcome as decided by the worker
    (:func:`~procrastinate.worker.outcome_of`): ``procrastinate.job.outcome`` is
    ``succeeded``, ``failed``, ``retried`` or ``aborted``; failures record the
    exception and set the span's status to error.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    async def __call__(
        self,
        call_next: Callable[[], Awaitable[Any]],
        context: job_context.JobContext,
        worker_: worker.Worker,
    ) -> Any:
        """Run the job in its span (the middleware protocol): a child of the span
        that deferred it, linked to it, when the job carries its trace context."""
        job = context.job
        parent = creation_context(job)
        links = [] if parent is None else [_link_to(parent)]
        with self.tracer.start_as_current_span(
            f"process {job.queue}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes=process_attributes(job),
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await call_next()
            except BaseException as exc:
                outcome = worker.outcome_of(
                    exc, context.task, job, context.abort_reason()
                )
                _end_with(span, outcome, exc)
                raise
            span.set_attribute("procrastinate.job.outcome", "succeeded")
            return result


def _link_to(context: otel_context.Context) -> trace.Link:
    return trace.Link(trace.get_current_span(context).get_span_context())


def _end_with(span: trace.Span, outcome: worker.Outcome, error: BaseException) -> None:
    name = "retried" if outcome.retry is not None else outcome.status.value
    span.set_attribute("procrastinate.job.outcome", name)
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))


def instrument(
    app: app_module.App, tracer_provider: trace.TracerProvider | None = None
) -> None:
    """
    Trace the defers and job runs of ``app``: its job manager's defers get a span,
    and its workers (those started after this call without an explicit
    ``worker_middleware``, the command line's included) run each job in a span, the
    tracing middleware outermost. Calling it again does nothing.

    :param tracer_provider: where spans go; by default, OpenTelemetry's global
        provider.
    """
    manager = app.job_manager
    if getattr(manager, _INSTRUMENTED, False):
        return
    tracer = trace.get_tracer(
        "procrastinate", procrastinate.__version__, tracer_provider=tracer_provider
    )
    defer_async = manager.batch_defer_jobs_async
    defer_sync = manager.batch_defer_jobs

    async def batch_defer_jobs_async(
        jobs_to_defer: list[jobs.Job], connection: Any = None
    ) -> list[jobs.Job]:
        if not jobs_to_defer:
            return []
        with _defer_span(tracer, jobs_to_defer) as record:
            deferred = await defer_async(
                with_trace_context(jobs_to_defer), connection=connection
            )
            record(deferred)
            return deferred

    def batch_defer_jobs(
        jobs_to_defer: list[jobs.Job], connection: Any = None
    ) -> list[jobs.Job]:
        if not jobs_to_defer:
            return []
        with _defer_span(tracer, jobs_to_defer) as record:
            deferred = defer_sync(
                with_trace_context(jobs_to_defer), connection=connection
            )
            record(deferred)
            return deferred

    manager.batch_defer_jobs_async = batch_defer_jobs_async  # type: ignore[method-assign]
    manager.batch_defer_jobs = batch_defer_jobs  # type: ignore[method-assign]
    setattr(manager, _INSTRUMENTED, True)
    middlewares = app.worker_defaults.get("worker_middleware") or []
    app.worker_defaults["worker_middleware"] = [TracingMiddleware(tracer), *middlewares]
