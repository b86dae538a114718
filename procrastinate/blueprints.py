"""Blueprints: tasks declared apart from any app, attached to one later."""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Literal, TypeVar, overload

from typing_extensions import ParamSpec, TypedDict, Unpack

from procrastinate import exceptions, middleware, periodic, utils
from procrastinate import retry as retry_module
from procrastinate.tasks import ConfigureTaskOptions, Task, check_configure_options

if TYPE_CHECKING:
    from procrastinate import manager

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class TaskOptions(TypedDict, total=False):
    """The options of :meth:`Blueprint.task` beside ``pass_context``, each with the
    default of :class:`~procrastinate.tasks.Task`."""

    name: str | None
    aliases: list[str] | None
    retry: retry_module.RetryValue
    queue: str
    priority: int
    lock: str | None
    lock_mode: str
    queueing_lock: str | None
    task_middleware: Sequence[middleware.TaskMiddleware] | None
    timeout: float | datetime.timedelta | None


def check_task_options(options: Mapping[str, object]) -> None:
    """
    :raises TypeError: an option that :class:`TaskOptions` does not name, as Python
        says it of an unexpected keyword argument.
    """
    for name in options:
        if name not in TaskOptions.__optional_keys__:
            raise TypeError(f"task() got an unexpected keyword argument {name!r}")


class Blueprint:
    """
    A set of tasks that is not bound to an app: declare tasks on a blueprint in a
    library or a module, then attach it with :meth:`App.add_tasks_from`. Deferring a
    blueprint task before that raises :class:`~procrastinate.exceptions.UnboundTaskError`.

    :ivar tasks: the tasks, by name and by alias.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, Task[Any, Any, Any]] = {}
        self.periodic_registry = periodic.PeriodicRegistry()
        self._check_stack()

    def _check_stack(self) -> None:
        # Tasks defined in a module that cannot be imported by name (an interactive
        # session, python -c) get names that a worker started elsewhere cannot
        # find: warn early.
        try:
            namespace = utils.caller_namespace()
        except exceptions.CallerModuleUnknown:
            logger.warning(
                "Unable to determine where the app was defined",
                extra={"action": "app_location_unknown"},
            )
            return
        if utils.importable_module_name(namespace) is None:
            logger.warning(
                "The app is defined in __main__, which a worker cannot import: its "
                "tasks are named __main__.<function>. Define the app in a module of "
                "the current directory.",
                extra={"action": "app_defined_in___main__"},
            )

    def will_configure_task(self) -> None:
        """
        Called before a job of one of the tasks is configured.

        :raises UnboundTaskError: always, on a blueprint: attach it to an app first.
        """
        raise exceptions.UnboundTaskError

    def get_job_manager(self) -> manager.JobManager:
        """
        The job manager that stores the jobs of the tasks: an app's own.

        :raises UnboundTaskError: always, on a blueprint: attach it to an app first.
        """
        raise exceptions.UnboundTaskError

    def _register_task(self, task: Task[Any, Any, Any]) -> None:
        names = [task.name, *task.aliases]
        taken = [name for name in names if name in self.tasks]
        if taken:
            raise exceptions.TaskAlreadyRegistered(
                f"A task is already registered under the name(s) {', '.join(taken)}"
            )
        for name in names:
            self.tasks[name] = task

    def add_task_alias(self, task: Task[Any, Any, Any], alias: str) -> None:
        """
        Register another name for a task (to rename a task without breaking the jobs
        already stored under the old name).

        :param task: the task.
        :param alias: its other name.
        :raises TaskAlreadyRegistered: the alias is taken.
        """
        if alias in self.tasks:
            raise exceptions.TaskAlreadyRegistered(
                f"A task is already registered under the name {alias}"
            )
        task.aliases.append(alias)
        self.tasks[alias] = task

    def add_tasks_from(self, blueprint: Blueprint, *, namespace: str) -> None:
        """
        Attach the tasks of ``blueprint`` (and its periodic tasks) to this one, their
        names and aliases prefixed with ``namespace:`` (nothing when empty).

        :param blueprint: the blueprint whose tasks to attach.
        :param namespace: the prefix of their names.
        :raises TaskAlreadyRegistered: a prefixed name is taken; nothing was added.
        """
        logger.debug(
            f"Adding tasks from blueprint under namespace {namespace!r}",
            extra={"action": "loading_blueprint", "namespace": namespace},
        )
        new_names = {utils.add_namespace(name, namespace) for name in blueprint.tasks}
        taken = sorted(new_names & set(self.tasks))
        if taken:
            raise exceptions.TaskAlreadyRegistered(
                f"Tasks already registered under the name(s) {', '.join(taken)}"
            )
        for task in set(blueprint.tasks.values()):
            task.add_namespace(namespace)
            task.blueprint = self
        blueprint.tasks = {
            utils.add_namespace(name, namespace): task
            for name, task in blueprint.tasks.items()
        }
        self.tasks.update(blueprint.tasks)
        for periodic_task in blueprint.periodic_registry.periodic_tasks.values():
            self.periodic_registry.register(
                task=periodic_task.task,
                cron=periodic_task.cron,
                periodic_id=periodic_task.periodic_id,
                configure_kwargs=periodic_task.configure_kwargs,
            )

    @overload
    def task(
        self,
        _func: None = None,
        *,
        pass_context: Literal[False] = False,
        **options: Unpack[TaskOptions],
    ) -> Callable[[Callable[P, R]], Task[P, R, P]]: ...

    # The context is a JobContext; Any here, because a JobContext holds the App,
    # which sits above this module.
    @overload
    def task(
        self,
        _func: None = None,
        *,
        pass_context: Literal[True],
        **options: Unpack[TaskOptions],
    ) -> Callable[
        [Callable[Concatenate[Any, P], R]],
        Task[Concatenate[Any, P], R, P],
    ]: ...

    @overload
    def task(self, _func: Callable[P, R]) -> Task[P, R, P]: ...

    def task(
        self,
        _func: Callable[..., Any] | None = None,
        *,
        pass_context: bool = False,
        **options: Unpack[TaskOptions],
    ) -> Any:
        """
        Declare a task: use it as ``@app.task`` or ``@app.task(...)`` on a function.

        :param _func: the function, when the decorator is used without parentheses.
        :param pass_context: give the function a :class:`~procrastinate.JobContext`
            as first argument.
        :param options: the task's other options, as keywords (a
            :class:`TaskOptions`): those that follow.
        :param name: the task's name (default: ``module.function``). Jobs store it:
            changing it orphans the jobs waiting under the old name, unless the old
            name stays as an alias.
        :param aliases: other names of the task.
        :param retry: how failed jobs are retried: ``True`` (forever, at once), an
            int (that many retries), or a :class:`~procrastinate.RetryStrategy`.
        :param queue: the default queue of the task's jobs.
        :param priority: the default priority (higher runs first).
        :param lock: the default lock of the task's jobs.
        :param lock_mode: the default lock mode of its jobs: ``"ordered"`` (3.x's
            rule) or ``"mutex"`` (see :doc:`/howto/advanced/lock_modes`).
        :param queueing_lock: the default queueing lock of the task's jobs.
        :param task_middleware: middleware wrapping each job of this task (async for
            an async task, sync for a sync one).
        :param timeout: the time limit of each run of a job, in seconds or as a
            :class:`~datetime.timedelta`; ``None``: none. Past it, the job fails with
            :class:`~procrastinate.exceptions.TaskTimeout` (see
            :doc:`/howto/advanced/timeouts`).
        :raises TaskAlreadyRegistered: the name or an alias is taken.
        :raises TypeError: an unknown option, or ``timeout`` is neither a number nor
            a timedelta.
        :raises ValueError: ``timeout`` is not a positive, finite duration.
        :raises MiddlewareKindMismatch: a middleware does not match the task.
        """

        check_task_options(options)

        def wrap(func: Callable[..., Any]) -> Task[Any, Any, Any]:
            task: Task[Any, Any, Any] = Task(
                func, blueprint=self, pass_context=pass_context, **options
            )
            self._register_task(task)
            functools.update_wrapper(task, func, updated=())
            return task

        if _func is None:
            return wrap
        return wrap(_func)

    def periodic(
        self,
        *,
        cron: str,
        periodic_id: str = "",
        **configure_kwargs: Unpack[ConfigureTaskOptions],
    ) -> Callable[[Task[P, R, Any]], Task[P, R, Any]]:
        """
        Run a task periodically, on a cron schedule: use it above ``@app.task``. The
        task must accept a ``timestamp`` argument (the Unix time of the tick).

        :param cron: 5 fields (minute to weekday), or 6 with seconds last.
        :param periodic_id: distinguishes several schedules of one task.
        :param configure_kwargs: options of :meth:`Task.configure` for its jobs.
        :raises InvalidCronExpression: the expression cannot be parsed.
        :raises TaskAlreadyRegistered: the task has a schedule with this id already.
        :raises TypeError: an unknown option in ``configure_kwargs``.
        :raises ValueError: ``task_kwargs`` that PostgreSQL would refuse (NaN, a NUL
            character...): every tick would fail to defer.
        """
        check_configure_options(dict(configure_kwargs), "periodic")
        utils.check_json_args(dict(configure_kwargs.get("task_kwargs") or {}))

        def wrapper(task: Task[P, R, Any]) -> Task[P, R, Any]:
            self.periodic_registry.register(
                task=task,
                cron=cron,
                periodic_id=periodic_id,
                configure_kwargs=dict(configure_kwargs),
            )
            return task

        return wrapper
