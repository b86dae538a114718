"""Tasks: the functions that jobs run, and how to configure a job of one."""

from __future__ import annotations

import datetime
import functools
import inspect
import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar

from typing_extensions import NotRequired, ParamSpec, Unpack

from procrastinate import deferrer, exceptions, jobs, middleware, types, utils
from procrastinate import retry as retry_module
from procrastinate.sql import facts

if TYPE_CHECKING:
    from procrastinate import manager

logger = logging.getLogger(__name__)

P = ParamSpec("P")
Args = ParamSpec("Args")
R = TypeVar("R")


class ConfigureTaskOptions(TypedDict):
    """The options of :meth:`Task.configure`."""

    lock: NotRequired[str | None]
    lock_mode: NotRequired[str | None]
    queueing_lock: NotRequired[str | None]
    task_kwargs: NotRequired[types.JSONDict | None]
    schedule_at: NotRequired[datetime.datetime | None]
    schedule_in: NotRequired[types.TimeDeltaParams | None]
    queue: NotRequired[str | None]
    priority: NotRequired[int | None]
    timeout: NotRequired[float | datetime.timedelta | None]
    connection: NotRequired[Any]


_KNOWN_OPTIONS = (
    ConfigureTaskOptions.__required_keys__ | ConfigureTaskOptions.__optional_keys__
)

# PostgreSQL's ``integer``, the type of the priority column.
PRIORITY_RANGE = (-(2**31), 2**31 - 1)


def check_configure_options(options: dict[str, Any], where: str = "configure") -> None:
    """
    :raises TypeError: an option that :meth:`Task.configure` does not know (a
        misspelling would otherwise be ignored).
    """
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise TypeError(
            f"{where}() got unknown option(s) {', '.join(unknown)}: the options are "
            f"{', '.join(sorted(_KNOWN_OPTIONS))}"
        )


def check_text(value: Any, name: str, *, optional: bool = True) -> None:
    """
    :raises TypeError: ``value`` is not a string (nor ``None`` when ``optional``).
    :raises ValueError: it holds a NUL character, which PostgreSQL text cannot store.
    """
    if value is None and optional:
        return
    if not isinstance(value, str):
        expected = "a string or None" if optional else "a string"
        raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")
    utils.check_text(value, name)


def check_priority(value: Any, name: str = "priority") -> None:
    """
    :raises TypeError: ``value`` is not an int (a bool or a string is refused).
    :raises ValueError: it does not fit PostgreSQL's ``integer``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(
            f"{name} must be an int, not {type(value).__name__}: e.g. {name}=7"
        )
    low, high = PRIORITY_RANGE
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: use {low} to {high}")


def check_lock_mode(value: Any) -> None:
    """
    :raises ValueError: ``value`` is not a lock mode (``"ordered"`` or ``"mutex"``).
    """
    if value not in facts.LOCK_MODES:
        raise ValueError(
            f"lock_mode must be one of {', '.join(map(repr, facts.LOCK_MODES))}, "
            f"not {value!r}"
        )


def check_timeout(value: Any) -> float | None:
    """
    A task's time limit in seconds, from a number or a timedelta (``None``: none).

    :raises TypeError: neither a number nor a timedelta.
    :raises ValueError: not a positive, finite duration.
    """
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(
            f"timeout must be a number of seconds or a timedelta, not "
            f"{type(value).__name__}: e.g. timeout=30"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"timeout={value!r} is not a positive duration: e.g. timeout=30"
        )
    return seconds


def configure_task(
    *,
    name: str,
    job_manager: manager.JobManager,
    lock: str | None = None,
    lock_mode: str = jobs.DEFAULT_LOCK_MODE,
    queueing_lock: str | None = None,
    task_kwargs: types.JSONDict | None = None,
    schedule_at: datetime.datetime | None = None,
    schedule_in: types.TimeDeltaParams | None = None,
    queue: str = jobs.DEFAULT_QUEUE,
    priority: int = jobs.DEFAULT_PRIORITY,
    timeout: float | datetime.timedelta | None = None,
    connection: Any = None,
) -> deferrer.JobDeferrer:
    """
    A deferrer for a job of the task ``name``, which needs not be registered here (it
    may live in another code base that shares the database).

    :param name: the task's name.
    :param job_manager: the job manager that will store the job.
    :param lock: jobs with the same lock never run at the same time.
    :param lock_mode: ``"ordered"``: the job waits for every job of its lock ahead of
        it, even one scheduled later; ``"mutex"``: only for the running one and the
        due ones ahead (see :doc:`/howto/advanced/lock_modes`).
    :param queueing_lock: at most one job with this queueing lock waits in the queue.
    :param task_kwargs: arguments of the task, merged under those of ``defer``.
    :param schedule_at: when to run the job (a timezone-aware datetime).
    :param schedule_in: the delay before running the job, as
        :class:`datetime.timedelta` keyword arguments.
    :param queue: the queue of the job.
    :param priority: the priority of the job (higher runs first).
    :param timeout: the time limit of this job's run, in seconds or as a
        :class:`~datetime.timedelta`, in place of its task's (``None``: the task's).
    :param connection: a database connection owned by the caller, to defer in its
        transaction.
    :raises TypeError: an option of the wrong type (e.g. a priority given as a
        string), naming it.
    :raises ValueError: both ``schedule_at`` and ``schedule_in`` are given, or an
        option's value cannot be stored (a time out of range, a NUL character, a
        timeout that is not a positive duration...).
    """
    check_text(name, "name", optional=False)
    check_text(queue, "queue", optional=False)
    check_text(lock, "lock")
    check_lock_mode(lock_mode)
    check_text(queueing_lock, "queueing_lock")
    check_priority(priority)
    if task_kwargs is not None and not isinstance(task_kwargs, dict):
        raise TypeError(f"task_kwargs must be a dict, not {type(task_kwargs).__name__}")
    if schedule_at is not None and schedule_in is not None:
        raise ValueError("Cannot set both schedule_at and schedule_in")
    if schedule_at is not None:
        utils.check_schedule(schedule_at, "schedule_at")
    if schedule_in is not None:
        schedule_at = utils.schedule_from_delay(schedule_in)
    job = jobs.Job(
        id=None,
        lock=lock,
        lock_mode=lock_mode,
        queueing_lock=queueing_lock,
        task_name=name,
        queue=queue,
        priority=priority,
        task_kwargs=task_kwargs or {},
        scheduled_at=schedule_at,
        timeout=check_timeout(timeout),
    )
    return deferrer.JobDeferrer(job_manager=job_manager, job=job, connection=connection)


class TaskOwner(Protocol):
    """
    What a task needs of the blueprint (or app) that declares it: a
    :class:`~procrastinate.blueprints.Blueprint`, described here so that tasks, which
    blueprints create, do not import them back.
    """

    def will_configure_task(self) -> None:
        """Called before a job of one of the tasks is configured.

        :raises UnboundTaskError: the owner is a blueprint not attached to an app.
        """

    def get_job_manager(self) -> manager.JobManager:
        """The job manager that stores the jobs of the owner's tasks.

        :raises UnboundTaskError: the owner is a blueprint not attached to an app.
        """


class Task(Generic[P, R, Args]):
    """
    A task is a function that procrastinate runs in a worker, once per job. Tasks are
    created with :meth:`App.task` (or :meth:`Blueprint.task`); calling the task object
    calls the function directly, :meth:`defer` creates a job.

    :ivar name: the task name, stored in each job (default: ``module.function``).
    :ivar queue: the default queue of its jobs.
    :ivar priority: the default priority of its jobs.
    :ivar lock: the default lock of its jobs.
    :ivar lock_mode: the default lock mode of its jobs (``"ordered"`` or
        ``"mutex"``).
    :ivar queueing_lock: the default queueing lock of its jobs.
    :ivar retry_strategy: how its failed jobs are retried, or ``None``.
    :ivar pass_context: whether the function receives a
        :class:`~procrastinate.JobContext` first.
    :ivar timeout: the time limit of each run of its jobs, in seconds, or ``None``
        (:meth:`Blueprint.task` says what a bad one raises).
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        blueprint: TaskOwner,
        queue: str = jobs.DEFAULT_QUEUE,
        priority: int = jobs.DEFAULT_PRIORITY,
        lock: str | None = None,
        lock_mode: str = jobs.DEFAULT_LOCK_MODE,
        queueing_lock: str | None = None,
        retry: retry_module.RetryValue = False,
        pass_context: bool = False,
        name: str | None = None,
        aliases: list[str] | None = None,
        task_middleware: Sequence[middleware.TaskMiddleware] | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> None:
        check_text(queue, "queue", optional=False)
        check_priority(priority)
        check_text(lock, "lock")
        check_lock_mode(lock_mode)
        check_text(queueing_lock, "queueing_lock")
        if isinstance(aliases, str):
            raise TypeError(
                f"aliases must be a list of names, not a string: e.g. "
                f"aliases=[{aliases!r}]"
            )
        self.queue = queue
        self.priority = priority
        self.blueprint = blueprint
        self.func: Callable[P, R] = func
        self.aliases = aliases or []
        self.retry_strategy = retry_module.get_retry_strategy(retry)
        self.name: str = name or self.full_path
        self.pass_context = pass_context
        self.lock = lock
        self.lock_mode = lock_mode
        self.queueing_lock = queueing_lock
        self.task_middleware = list(task_middleware or [])
        middleware.check_task_middleware(self.task_middleware, self.is_async)
        self.timeout = check_timeout(timeout)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the task's function here and now, without a job.

        :param args: the function's positional arguments.
        :param kwargs: its keyword arguments.
        """
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    @functools.cached_property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function (looked up once: every job
        of the task asks)."""
        return inspect.iscoroutinefunction(self.func)

    @property
    def full_path(self) -> str:
        """``module.function`` of the task's function."""
        return utils.get_full_path(self.func)

    def add_namespace(self, namespace: str) -> None:
        """Prefix the task's name and aliases with ``namespace:``.

        :param namespace: the prefix, without the colon.
        """
        self.name = utils.add_namespace(self.name, namespace)
        self.aliases = [utils.add_namespace(alias, namespace) for alias in self.aliases]

    async def defer_async(self, *_: Args.args, **task_kwargs: Args.kwargs) -> int:
        """
        Create a job of this task with the default configuration; the keyword
        arguments are those of the task's function.

        :param _: none: positional arguments raise :class:`TypeError`, since a job
            stores its arguments by name.
        :param task_kwargs: the arguments of the task's function, JSON values.
        :returns: the id of the job.
        :raises AlreadyEnqueued: the task's queueing lock is taken.
        """
        _refuse_positional(_)
        return await self.configure().defer_async(**task_kwargs)  # type: ignore[arg-type]

    def defer(self, *_: Args.args, **task_kwargs: Args.kwargs) -> int:
        """Synchronous version of :meth:`defer_async`."""
        _refuse_positional(_)
        return self.configure().defer(**task_kwargs)  # type: ignore[arg-type]

    async def batch_defer_async(self, *task_kwargs: types.JSONDict) -> list[int]:
        """
        Create several jobs of this task in one query, one per dict of keyword
        arguments.

        :param task_kwargs: the arguments of each job, as dicts.
        :returns: the ids of the jobs, in order.
        :raises AlreadyEnqueued: the queueing lock is taken; no job was created.
        """
        return await self.configure().batch_defer_async(*task_kwargs)

    def batch_defer(self, *task_kwargs: types.JSONDict) -> list[int]:
        """Synchronous version of :meth:`batch_defer_async`."""
        return self.configure().batch_defer(*task_kwargs)

    def configure(
        self, **options: Unpack[ConfigureTaskOptions]
    ) -> deferrer.JobDeferrer:
        """
        Configure the job before deferring it: options left out (or ``None``) take
        the task's defaults.

        :param options: the options of :func:`configure_task` (``lock``,
            ``lock_mode``, ``queueing_lock``, ``task_kwargs``, ``schedule_at``,
            ``schedule_in``, ``queue``, ``priority``, ``timeout``,
            ``connection``), by name, all
            optional; they are documented there.
        :returns: a :class:`~procrastinate.jobs.JobDeferrer`: call its ``defer``.
        :raises TypeError: an unknown option, or one of the wrong type.
        :raises ValueError: both ``schedule_at`` and ``schedule_in`` are given, or a
            value that cannot be stored (see :func:`configure_task`).
        :raises UnboundTaskError: the task's blueprint is not attached to an app.
        """
        check_configure_options(dict(options))
        self.blueprint.will_configure_task()
        job_manager = self.blueprint.get_job_manager()
        lock = options.get("lock")
        lock_mode = options.get("lock_mode")
        queueing_lock = options.get("queueing_lock")
        queue = options.get("queue")
        priority = options.get("priority")
        return configure_task(
            name=self.name,
            job_manager=job_manager,
            lock=lock if lock is not None else self.lock,
            lock_mode=lock_mode if lock_mode is not None else self.lock_mode,
            queueing_lock=queueing_lock
            if queueing_lock is not None
            else self.queueing_lock,
            task_kwargs=options.get("task_kwargs"),
            schedule_at=options.get("schedule_at"),
            schedule_in=options.get("schedule_in"),
            queue=queue if queue is not None else self.queue,
            priority=priority if priority is not None else self.priority,
            timeout=options.get("timeout"),
            connection=options.get("connection"),
        )

    def get_retry_exception(
        self, exception: BaseException, job: jobs.Job
    ) -> exceptions.JobRetry | None:
        """The retry to perform after ``exception``, if the task has a strategy.

        :param exception: what the job raised.
        :param job: the job that raised it.
        """
        if self.retry_strategy is None:
            return None
        return self.retry_strategy.get_retry_exception(exception=exception, job=job)


def _refuse_positional(args: tuple[Any, ...]) -> None:
    if args:
        raise TypeError(
            "Tasks are deferred with keyword arguments only: use .defer(name=value)"
        )
