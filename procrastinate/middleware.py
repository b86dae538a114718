"""Middleware: code that wraps the run of every job (worker middleware) or of the jobs
of some tasks (task middleware).

A middleware is called as ``middleware(call_next, context, worker)``; it must call (or
await) ``call_next()`` and return its result. The first middleware of a list is the
outermost.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from procrastinate import exceptions

SyncCallNext: TypeAlias = Callable[[], Any]
AsyncCallNext: TypeAlias = Callable[[], Awaitable[Any]]
# The context is a JobContext and the worker a Worker: Any here, because tasks and
# blueprints, which this module serves, sit below the worker and the app that those
# hold. A middleware annotated with them matches all the same.
SyncTaskMiddleware: TypeAlias = Callable[[SyncCallNext, Any, Any], Any]
AsyncTaskMiddleware: TypeAlias = Callable[[AsyncCallNext, Any, Any], Awaitable[Any]]
TaskMiddleware: TypeAlias = SyncTaskMiddleware | AsyncTaskMiddleware
WorkerMiddleware: TypeAlias = AsyncTaskMiddleware


def is_async_callable(func: Any) -> bool:
    """Whether calling ``func`` returns a coroutine (partials and ``__call__`` too).

    :param func: any callable.
    """
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


def is_async_middleware(middleware: Any) -> bool:
    """Whether a middleware is asynchronous: the name procrastinate 3.x gave to
    :func:`is_async_callable`."""
    return is_async_callable(middleware)


def check_task_middleware(
    middlewares: Sequence[TaskMiddleware], task_is_async: bool
) -> None:
    """
    Refuse middleware that cannot wrap the task.

    :param middlewares: the task's middleware.
    :param task_is_async: whether the task is asynchronous.
    :raises TypeError: a middleware is not callable.
    :raises MiddlewareKindMismatch: a middleware is sync for an async task, or the
        reverse.
    """
    for middleware in middlewares:
        if not callable(middleware):
            raise TypeError(f"Middleware {middleware!r} is not callable")
        if is_async_callable(middleware) != task_is_async:
            kind = "an async" if task_is_async else "a sync"
            raise exceptions.MiddlewareKindMismatch(
                f"Middleware {middleware!r} cannot wrap {kind} task: "
                "middleware must be async for async tasks and sync for sync tasks"
            )


def check_worker_middleware(middlewares: Sequence[WorkerMiddleware]) -> None:
    """
    Refuse worker middleware that is not an async callable.

    :param middlewares: the worker's middleware.
    :raises TypeError: a middleware is not callable.
    :raises MiddlewareKindMismatch: a middleware is not async.
    """
    for middleware in middlewares:
        if not callable(middleware):
            raise TypeError(f"Middleware {middleware!r} is not callable")
        if not is_async_callable(middleware):
            raise exceptions.MiddlewareKindMismatch(
                f"Worker middleware {middleware!r} must be async: it runs on the "
                "worker's event loop around every job"
            )


def compose(
    middlewares: Sequence[Callable[..., Any]],
    call: Callable[[], Any],
    context: Any,
    worker: Any,
) -> Callable[[], Any]:
    """``call`` wrapped in the middlewares, the first one outermost.

    :param middlewares: the middleware, outermost first.
    :param call: what they wrap: runs the job.
    :param context: the job's :class:`~procrastinate.JobContext`, given to each
        middleware.
    :param worker: the :class:`~procrastinate.worker.Worker` running the job, given to
        each middleware.
    """
    for middleware in reversed(middlewares):
        call = functools.partial(middleware, call, context, worker)
    return call
