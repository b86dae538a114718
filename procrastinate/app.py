"""The app: the entry point of procrastinate, tying tasks to a database connector."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import NotRequired, TypedDict, Unpack

from procrastinate import (
    blueprints,
    deferrer,
    exceptions,
    jobs,
    manager,
    results,
    schema,
    tasks,
    utils,
)
from procrastinate import connector as connector_module

if TYPE_CHECKING:
    from procrastinate import middleware

logger = logging.getLogger(__name__)


class WorkerOptions(TypedDict):
    """The options of a worker (see :class:`~procrastinate.worker.Worker`)."""

    queues: NotRequired[Iterable[str] | None]
    name: NotRequired[str | None]
    concurrency: NotRequired[int]
    wait: NotRequired[bool]
    fetch_job_polling_interval: NotRequired[float]
    abort_job_polling_interval: NotRequired[float]
    shutdown_graceful_timeout: NotRequired[float | None]
    listen_notify: NotRequired[bool]
    delete_jobs: NotRequired[str | jobs.DeleteJobCondition | None]
    additional_context: NotRequired[dict[str, Any] | None]
    install_signal_handlers: NotRequired[bool]
    update_heartbeat_interval: NotRequired[float]
    stalled_worker_timeout: NotRequired[float]
    recover_stalled_jobs: NotRequired[bool]
    outcome_batch_size: NotRequired[int]
    outcome_batch_delay: NotRequired[float]
    task_middleware: NotRequired[list[middleware.TaskMiddleware] | None]
    worker_middleware: NotRequired[list[middleware.WorkerMiddleware] | None]


PERIODIC_OPTIONS = {"max_delay"}


class Runnable(Protocol):
    """What the app needs of a :class:`~procrastinate.worker.Worker`: to run it."""

    async def run(self) -> None:
        """Run until stopped (or until the queues are empty, without ``wait``)."""


def check_worker_options(options: dict[str, Any], where: str) -> None:
    """
    :raises TypeError: an option that workers do not know (a misspelling would be
        ignored until a worker starts), or ``queues`` given as one string (a worker
        would listen to each of its letters).
    """
    known = WorkerOptions.__required_keys__ | WorkerOptions.__optional_keys__
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"Unknown {where} option(s) {', '.join(unknown)}: the options are "
            f"{', '.join(sorted(known))}"
        )
    queues = options.get("queues")
    if queues is None:
        return
    if isinstance(queues, str) or not all(isinstance(queue, str) for queue in queues):
        raise TypeError(
            f"queues must be a list of queue names, not {queues!r}: e.g. "
            f"queues=[{queues!r}]"
            if isinstance(queues, str)
            else f"queues must be a list of queue names (strings), not {queues!r}"
        )


class App(blueprints.Blueprint):
    """
    The procrastinate app: declare tasks on it with :meth:`task`, open it, defer jobs,
    run workers.

    :param connector: how to reach the database, e.g.
        :class:`~procrastinate.PsycopgConnector`.
    :param import_paths: modules to import before running a worker or deferring from
        the command line, so that their tasks are registered.
    :param worker_defaults: default options of the workers of this app (see
        :meth:`run_worker`).
    :param periodic_defaults: options of periodic tasks: ``max_delay``, in seconds,
        how old the latest tick may be when a worker starts to still be deferred
        (default 600).
    :param max_result_bytes: the most bytes of JSON that a task's return value may
        take to be stored with its job (default 1 MiB); ``None`` for no limit. A
        bigger value is not stored, and its job succeeds all the same (see
        :meth:`~procrastinate.manager.JobManager.get_job_result`).
    :raises TypeError: an unknown option in ``worker_defaults`` or
        ``periodic_defaults``, or ``queues`` or ``import_paths`` given as a string.
    :raises ValueError: a ``max_result_bytes`` below 1.
    """

    @classmethod
    def from_path(cls, dotted_path: str) -> App:
        """
        The app at ``package.module.attribute``.

        :param dotted_path: where the app is, e.g. ``myproject.tasks.app``.
        :raises LoadFromPathError: it cannot be imported or is not an App.
        """
        return utils.load_from_path(dotted_path, cls)

    def __init__(
        self,
        *,
        connector: connector_module.BaseConnector,
        import_paths: Iterable[str] | None = None,
        worker_defaults: WorkerOptions | None = None,
        periodic_defaults: dict[str, Any] | None = None,
        max_result_bytes: int | None = results.DEFAULT_MAX_RESULT_BYTES,
    ) -> None:
        super().__init__()
        if max_result_bytes is not None and max_result_bytes < 1:
            raise ValueError(
                f"max_result_bytes must be 1 or more (or None), not {max_result_bytes}"
            )
        if isinstance(import_paths, str):
            raise TypeError(
                f"import_paths must be a list of module paths, not a string: e.g. "
                f"import_paths=[{import_paths!r}]"
            )
        check_worker_options(dict(worker_defaults or {}), "worker_defaults")
        unknown = sorted(set(periodic_defaults or {}) - PERIODIC_OPTIONS)
        if unknown:
            raise TypeError(
                f"Unknown periodic_defaults option(s) {', '.join(unknown)}: the "
                f"options are {', '.join(sorted(PERIODIC_OPTIONS))}"
            )
        self.connector = connector
        self.import_paths = list(import_paths or [])
        self.worker_defaults: WorkerOptions = worker_defaults or {}
        self.periodic_defaults = periodic_defaults or {}
        self.max_result_bytes = max_result_bytes
        self.job_manager = manager.JobManager(connector=connector)
        self._register_builtin_tasks()

    def _register_builtin_tasks(self) -> None:
        # Imported at run time, like the worker below: the builtin tasks, like any
        # task module, sit above the app (their context holds it).
        from procrastinate import builtin_tasks

        builtin = builtin_tasks.blueprint()
        self.add_tasks_from(builtin, namespace="builtin")
        self.add_task_alias(
            self.tasks["builtin:procrastinate.builtin_tasks.remove_old_jobs"],
            "procrastinate.builtin_tasks.remove_old_jobs",
        )

    def with_connector(self, connector: connector_module.BaseConnector) -> App:
        """
        A new app sharing this app's tasks and settings, on another connector.

        Deprecated: use :meth:`replace_connector`. Unlike procrastinate 3.x, the new
        app keeps ``periodic_defaults`` too.
        """
        app = App(
            connector=connector,
            import_paths=self.import_paths,
            worker_defaults=self.worker_defaults,
            periodic_defaults=self.periodic_defaults,
            max_result_bytes=self.max_result_bytes,
        )
        app.tasks = self.tasks
        app.periodic_registry = self.periodic_registry
        return app

    @contextlib.contextmanager
    def replace_connector(
        self, connector: connector_module.BaseConnector
    ) -> Iterator[App]:
        """
        Use another connector inside a ``with`` block (for instance an
        :class:`~procrastinate.testing.InMemoryConnector` in tests).
        """
        old_connector = self.connector
        self.connector = connector
        self.job_manager.connector = connector
        try:
            yield self
        finally:
            self.connector = old_connector
            self.job_manager.connector = old_connector

    def will_configure_task(self) -> None:
        """Nothing to check: an app can configure its tasks."""

    def get_job_manager(self) -> manager.JobManager:
        """The app's job manager, which stores the jobs of its tasks."""
        return self.job_manager

    def configure_task(
        self, name: str, *, allow_unknown: bool = True, **kwargs: Any
    ) -> deferrer.JobDeferrer:
        """
        Configure a job of a task known by name only, e.g. one defined in another
        code base that shares the database.

        :param name: the task's name.
        :param allow_unknown: allow names that are not registered here.
        :param kwargs: options of :meth:`Task.configure`.
        :raises TaskNotFound: the task is unknown and ``allow_unknown`` is false.
        """
        self.perform_import_paths()
        try:
            return self.tasks[name].configure(**kwargs)
        except KeyError as exc:
            if allow_unknown:
                return tasks.configure_task(
                    name=name, job_manager=self.job_manager, **kwargs
                )
            raise exceptions.TaskNotFound(
                f"Task {name!r} is not registered in the app. Known tasks: "
                f"{', '.join(sorted(self.tasks)) or 'none'}"
            ) from exc

    @functools.lru_cache(maxsize=1)  # noqa: B019
    def perform_import_paths(self) -> None:
        """Import the modules of ``import_paths`` (once)."""
        utils.import_all(import_paths=self.import_paths)
        logger.debug(
            f"All tasks imported, found {len(self.tasks)} tasks",
            extra={"action": "imported_tasks", "tasks": sorted(self.tasks)},
        )

    def _worker(self, **kwargs: Unpack[WorkerOptions]) -> Runnable:
        # Imported at run time: the worker sits above the app it runs.
        from procrastinate import worker

        check_worker_options(dict(kwargs), "worker")
        options: dict[str, Any] = {**self.worker_defaults, **kwargs}
        return worker.Worker(app=self, **options)

    async def run_worker_async(self, **kwargs: Unpack[WorkerOptions]) -> None:
        """
        Run a worker until it is stopped (or until the queues are empty with
        ``wait=False``). The app must be open. Options not given come from
        ``worker_defaults``, then from :class:`~procrastinate.worker.Worker`.

        :raises TypeError: an unknown option, or ``queues`` given as a string.
        """
        self.perform_import_paths()
        await self._worker(**kwargs).run()

    def run_worker(self, **kwargs: Unpack[WorkerOptions]) -> None:
        """Synchronous version of :meth:`run_worker_async`: opens the app for the
        duration of the run, in a new event loop."""

        async def run() -> None:
            async with self.open_async():
                await self.run_worker_async(**kwargs)

        asyncio.run(run())

    async def check_connection_async(self) -> bool:
        """Whether the database answers and holds the procrastinate schema."""
        return await self.job_manager.check_connection_async()

    def check_connection(self) -> bool:
        """Synchronous version of :meth:`check_connection_async`."""
        return self.job_manager.check_connection()

    @property
    def schema_manager(self) -> schema.SchemaManager:
        """Reads and applies the database schema."""
        return schema.SchemaManager(connector=self.connector)

    def open(self, pool_or_engine: Any = None) -> App:
        """
        Open the connection to the database (or adopt ``pool_or_engine``). Use it as
        ``with app.open():`` to close it at the end of the block.

        :param pool_or_engine: a pool (or, for SQLAlchemy, an engine) of the
            connector's driver, opened and closed by the caller; ``None`` to let the
            connector create its own.
        """
        self.connector.get_sync_connector().open(pool_or_engine)
        return self

    def close(self) -> None:
        """Close what :meth:`open` opened."""
        self.connector.get_sync_connector().close()

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open_async(self, pool: Any = None) -> utils.AwaitableContext[App]:
        """
        Open the connection to the database: ``await app.open_async()``, or
        ``async with app.open_async():`` to close it at the end of the block.

        :param pool: a pool of the connector's driver, opened and closed by the caller;
            ``None`` to let the connector create its own.
        """
        return utils.AwaitableContext(
            open_coro=functools.partial(self.connector.open_async, pool),
            close_coro=self.connector.close_async,
            return_value=self,
        )

    async def close_async(self) -> None:
        """Close what :meth:`open_async` opened."""
        await self.connector.close_async()
