"""The worker side of Django tasks: :func:`run_django_task`, the one procrastinate
task that runs them all, and :class:`StoredRetry`, its retry strategy.

The Django app imports this module into its tasks when Django's task API is there,
so that ``manage.py procrastinate worker`` runs the jobs of
:class:`~procrastinate.contrib.django.tasks.ProcrastinateBackend`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from procrastinate import jobs, retry, utils
from procrastinate.contrib.django import app, tasks_mapping, tasks_options
from procrastinate.contrib.django import tasks_compat as api
from procrastinate.job_context import JobContext

logger = logging.getLogger(__name__)


class StoredRetry(retry.BaseRetryStrategy):
    """Retries a job as the retry stored in its arguments says (chosen when it was
    enqueued, see :mod:`~procrastinate.contrib.django.tasks_options`)."""

    def get_retry_decision(
        self, *, exception: BaseException, job: jobs.Job
    ) -> retry.RetryDecision | None:
        """The decision of the job's stored retry; ``None`` (fail) when it has none,
        or when it names an exception class that cannot be imported any more."""
        try:
            strategy = tasks_options.retry_strategy(job.task_kwargs.get("retry"))
        except ValueError as exc:
            logger.error(
                f"Job {job.id}: its retry cannot be read ({utils.safe_repr(exc)}), "
                "so it is not retried",
                extra={"action": "django_task_bad_retry", "job_id": job.id},
            )
            return None
        if strategy is None:
            return None
        return strategy.get_retry_decision(exception=exception, job=job)


_STORED_RETRY = StoredRetry()


@app.task(name=tasks_mapping.BRIDGE_TASK_NAME, pass_context=True, retry=_STORED_RETRY)
def run_django_task(
    context: JobContext,
    task_path: str,
    backend: str,
    args: list[Any],
    kwargs: dict[str, Any],
    retry: tasks_options.RetrySpec | None = None,
) -> Any:
    """
    Run the Django task at ``task_path`` with ``args`` and ``kwargs`` (and its
    ``TaskContext`` first when it takes one), sending Django's ``task_started``
    signal, then ``task_finished`` when it succeeds or fails for good (not before a
    retry). What it returns is stored as the job's result.

    :param retry: the job's retry, read by :class:`StoredRetry`.
    :raises Exception: whatever the task raises, or why it cannot be loaded.
    """
    task = tasks_mapping.load_task(task_path)
    task_backend = api.task_backends[backend]
    sender = type(task_backend)
    running = task_backend.get_result(str(context.job.id))
    api.task_started.send(sender=sender, task_result=running)
    call_args = (
        [api.TaskContext(task_result=running), *args] if task.takes_context else args
    )
    try:
        value = api.normalize_json(task.call(*call_args, **kwargs))
    except Exception as exc:
        if _STORED_RETRY.get_retry_decision(exception=exc, job=context.job) is None:
            # Sent in the handler, as Django does: its logging reads sys.exc_info().
            api.task_finished.send(
                sender=sender,
                task_result=tasks_mapping.finished(
                    running, at=timezone.now(), error=exc
                ),
            )
        raise
    api.task_finished.send(
        sender=sender,
        task_result=tasks_mapping.finished(running, at=timezone.now(), value=value),
    )
    return value
