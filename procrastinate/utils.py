"""Small helpers with no knowledge of jobs or tasks."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import logging
import pathlib
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, Generic, TypeVar

import dateutil.parser
from asgiref import sync

from procrastinate import exceptions
from procrastinate.types import TimeDeltaParams

T = TypeVar("T")
U = TypeVar("U")

logger = logging.getLogger(__name__)


def load_from_path(path: str, allowed_type: type[T]) -> T:
    """
    Import the object at a dotted path (``package.module.attribute``).

    :raises LoadFromPathError: the module cannot be imported, has no such attribute, or
        the object is not an instance of ``allowed_type``.
    """
    if "." not in path:
        raise exceptions.LoadFromPathError(
            f"{path!r} is not a dotted path: expected <module>.<attribute>"
        )
    module_path, name = path.rsplit(".", 1)
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise exceptions.LoadFromPathError(
            f"Could not import module {module_path!r}: {exc}"
        ) from exc
    try:
        imported = getattr(module, name)
    except AttributeError as exc:
        raise exceptions.LoadFromPathError(
            f"Module {module_path!r} has no attribute {name!r}"
        ) from exc
    if not isinstance(imported, allowed_type):
        raise exceptions.LoadFromPathError(
            f"{path!r} is a {type(imported).__name__}, expected an instance of "
            f"{allowed_type.__name__}"
        )
    return imported


def import_all(import_paths: Iterable[str]) -> None:
    """Import each module of ``import_paths``, so that its tasks get registered."""
    for import_path in import_paths:
        logger.debug(
            f"Importing module {import_path}",
            extra={"action": "import_module", "module_name": import_path},
        )
        importlib.import_module(import_path)


def caller_namespace(prefix: str = "procrastinate") -> dict[str, Any]:
    """
    Globals of the first module up the stack that is not part of ``prefix``.

    :raises CallerModuleUnknown: the stack holds no such module.
    """
    frame = inspect.currentframe()
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != prefix and not name.startswith(f"{prefix}."):
            return frame.f_globals
        frame = frame.f_back
    raise exceptions.CallerModuleUnknown


def importable_module_name(namespace: dict[str, Any]) -> str | None:
    """
    The name that imports the module whose globals are ``namespace``.

    For the ``__main__`` module, this is the name a worker started in the current
    directory imports the same file by: ``pkg.mod`` after ``python -m pkg.mod``,
    ``scripts.defer`` after ``python scripts/defer.py``. None when there is none: an
    interactive session, ``python -c``, a file outside the current directory.
    """
    name = namespace.get("__name__")
    if name != "__main__":
        return name if isinstance(name, str) else None
    main = sys.modules.get("__main__")
    # Interactive consoles (such as python -m asyncio) run in a dict of their own.
    if main is None or vars(main) is not namespace:
        return None
    spec = namespace.get("__spec__")
    if spec is not None and spec.name:
        return str(spec.name)
    file = namespace.get("__file__")
    if not file:
        return None
    try:
        relative = (
            pathlib.Path(file).resolve().relative_to(pathlib.Path.cwd().resolve())
        )
    except ValueError:
        return None
    parts = relative.with_suffix("").parts
    if relative.suffix != ".py" or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def get_full_path(obj: Any) -> str:
    """
    ``module.qualified_name`` of a function or class. A function of the
    ``__main__`` module gets the name its file is imported by (see
    :func:`importable_module_name`), so that a worker finds it.

    :raises FunctionPathError: the object has no name.
    """
    try:
        module = obj.__module__
        if module == "__main__":
            module = importable_module_name(getattr(obj, "__globals__", {})) or module
        return f"{module}.{obj.__name__}"
    except AttributeError as exc:
        raise exceptions.FunctionPathError(
            f"Couldn't extract a relevant task name for {obj!r}: pass name=..."
        ) from exc


def utcnow() -> datetime.datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.datetime.now(tz=datetime.timezone.utc)


def utcmax() -> datetime.datetime:
    """The largest representable datetime, in UTC."""
    return datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


def datetime_from_timedelta_params(params: TimeDeltaParams) -> datetime.datetime:
    """
    Now plus the given delay; a delay too large to represent gives
    :func:`utcmax` instead of an :class:`OverflowError`.
    """
    try:
        return utcnow() + datetime.timedelta(**params)
    except OverflowError:
        return utcmax()


def parse_datetime(raw: str) -> datetime.datetime:
    """
    Parse a date and time, ISO 8601 first, then any format dateutil understands.
    A naive value is taken as UTC.

    :raises ValueError: the text is not a date.
    """
    try:
        value = datetime.datetime.fromisoformat(raw)
    except ValueError:
        try:
            value = dateutil.parser.parse(raw)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{raw!r} is not a valid date and time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def add_namespace(name: str, namespace: str) -> str:
    """``namespace:name``, or ``name`` when the namespace is empty."""
    return f"{namespace}:{name}" if namespace else name


def queues_display(queues: Iterable[str] | None) -> str:
    """Human description of a queue selection, for logs."""
    if queues:
        return f"queues {', '.join(queues)}"
    return "all queues"


def async_to_sync(
    awaitable: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any
) -> T:
    """Run an async function from sync code (through asgiref, loop-aware)."""
    return sync.async_to_sync(awaitable)(*args, **kwargs)


async def sync_to_async(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a sync function in a worker thread, without blocking the event loop."""
    return await sync.sync_to_async(func, thread_sensitive=False)(*args, **kwargs)


def causes(exc: BaseException | None) -> Iterable[BaseException]:
    """The exception and its chain of causes, outermost first."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


class AwaitableContext(Generic[T]):
    """
    Wrap a coroutine opening a resource so that it can be used both as
    ``await thing()`` and ``async with thing() as resource:``; leaving the block calls
    ``close_coro``.
    """

    def __init__(
        self,
        open_coro: Callable[[], Awaitable[None]],
        close_coro: Callable[[], Awaitable[None]],
        return_value: T,
    ) -> None:
        self._open_coro = open_coro
        self._close_coro = close_coro
        self._return_value = return_value

    async def __aenter__(self) -> T:
        await self._open_coro()
        return self._return_value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: types.TracebackType | None,
    ) -> None:
        await self._close_coro()

    def __await__(self) -> Generator[Any, None, T]:
        return self._await_open().__await__()

    async def _await_open(self) -> T:
        await self._open_coro()
        return self._return_value


async def cancel_and_capture_errors(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks, wait for them, and log the errors they ended with."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results):
        if isinstance(result, BaseException) and not isinstance(
            result, asyncio.CancelledError
        ):
            logger.error(
                f"{task.get_name()} error: {result!r}",
                exc_info=result,
                extra={"action": f"{task.get_name()}_error"},
            )


class MovedElsewhere:
    """
    Stand-in left where an object used to be: any use of it raises
    :class:`~procrastinate.exceptions.MovedElsewhere` naming its new home.
    """

    def __init__(self, name: str, new_location: str) -> None:
        self.name = name
        self.new_location = new_location

    def _raise(self) -> exceptions.MovedElsewhere:
        return exceptions.MovedElsewhere(
            f"procrastinate.{self.name} has been moved to {self.new_location}"
        )

    def __getattr__(self, item: str) -> Any:
        raise self._raise()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._raise()
