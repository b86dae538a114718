"""The app class of the Django integration, and its database-cleanup middleware."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref import sync
from django import db
from typing_extensions import Unpack

from procrastinate import app as app_module
from procrastinate import connector as connector_module
from procrastinate import middleware

if TYPE_CHECKING:
    from procrastinate import job_context, worker


def _cleanup_before() -> None:
    db.close_old_connections()


def _cleanup_after() -> None:
    db.close_old_connections()
    # With DEBUG on, Django logs every query of a connection: a long-running worker
    # would keep them all in memory.
    db.reset_queries()


def close_db_connections(
    call_next: middleware.SyncCallNext,
    context: job_context.JobContext,
    worker: worker.Worker,
) -> Any:
    """
    Task middleware of sync tasks: close the Django connections that are broken or
    older than ``CONN_MAX_AGE`` before and after the job, as Django does around each
    request, and forget the queries logged in ``DEBUG`` mode.

    :param call_next: runs the job.
    :param context: the job's context.
    :param worker: the worker running the job.
    """
    _cleanup_before()
    try:
        return call_next()
    finally:
        _cleanup_after()


async def close_db_connections_async(
    call_next: middleware.AsyncCallNext,
    context: job_context.JobContext,
    worker: worker.Worker,
) -> Any:
    """Task middleware of async tasks: like :func:`close_db_connections`, in the
    thread where ``sync_to_async`` runs Django's database code.

    :param call_next: runs the job.
    :param context: the job's context.
    :param worker: the worker running the job.
    """
    await sync.sync_to_async(_cleanup_before)()
    try:
        return await call_next()
    finally:
        await sync.sync_to_async(_cleanup_after)()


DB_CLEANUP_MIDDLEWARE: list[middleware.TaskMiddleware] = [
    close_db_connections,
    close_db_connections_async,
]


def with_db_cleanup(
    task_middleware: list[middleware.TaskMiddleware] | None,
) -> list[middleware.TaskMiddleware]:
    """``task_middleware`` with the database-cleanup middleware first (outermost),
    unless it is there already."""
    others = [
        item for item in task_middleware or [] if item not in DB_CLEANUP_MIDDLEWARE
    ]
    return [*DB_CLEANUP_MIDDLEWARE, *others]


class DjangoApp(app_module.App):
    """
    The app of a Django project: an :class:`~procrastinate.App` whose workers close
    stale Django database connections around each job (see
    :func:`close_db_connections`), so that tasks using the ORM behave as views do.

    It takes the same arguments as :class:`~procrastinate.App`. The integration builds
    it from the ``PROCRASTINATE_*`` settings: use
    ``procrastinate.contrib.django.app`` rather than creating one.
    """

    def __init__(
        self,
        *,
        connector: connector_module.BaseConnector,
        import_paths: Iterable[str] | None = None,
        worker_defaults: app_module.WorkerOptions | None = None,
        periodic_defaults: dict[str, Any] | None = None,
    ) -> None:
        defaults: app_module.WorkerOptions = {**(worker_defaults or {})}
        defaults["task_middleware"] = with_db_cleanup(defaults.get("task_middleware"))
        super().__init__(
            connector=connector,
            import_paths=import_paths,
            worker_defaults=defaults,
            periodic_defaults=periodic_defaults,
        )

    async def run_worker_async(
        self, **kwargs: Unpack[app_module.WorkerOptions]
    ) -> None:
        """Like :meth:`App.run_worker_async`; ``task_middleware`` given here also gets
        the database cleanup."""
        if "task_middleware" in kwargs:
            kwargs["task_middleware"] = with_db_cleanup(kwargs["task_middleware"])
        await super().run_worker_async(**kwargs)
