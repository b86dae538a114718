"""Small helpers with no knowledge of jobs or tasks."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import inspect
import logging
import math
import pathlib
import re
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


def missing_extra(feature: str, package: str, extra: str) -> ImportError:
    """The error of a module that needs an optional extra which is not installed: one
    line saying what to install."""
    return ImportError(
        f"{feature} need the {package} package: pip install 'procrastinate[{extra}]'"
    )


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


# PostgreSQL stores times from 4713 BC on, Python only reads years 1 to 9999: a day of
# margin at each end keeps a stored time readable whatever a session's time zone.
EARLIEST_SCHEDULE = datetime.datetime(1, 1, 2, tzinfo=datetime.timezone.utc)
LATEST_SCHEDULE = datetime.datetime(9999, 12, 30, tzinfo=datetime.timezone.utc)
DATETIME_EXAMPLE = "2030-01-31T09:30:00+01:00"
SCHEDULE_RANGE = f"between {EARLIEST_SCHEDULE.date()} and {LATEST_SCHEDULE.date()} UTC"


def check_schedule(value: Any, name: str) -> datetime.datetime:
    """
    ``value`` if it is a timezone-aware datetime that both PostgreSQL and Python can
    hold (see :data:`SCHEDULE_RANGE`).

    :raises TypeError: not a datetime.
    :raises ValueError: a naive datetime, or one out of range.
    """
    if not isinstance(value, datetime.datetime):
        raise TypeError(
            f"{name} must be a datetime, not {type(value).__name__}: "
            f"e.g. datetime.datetime.fromisoformat({DATETIME_EXAMPLE!r})"
        )
    if value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} has no time zone: give one, "
            f"e.g. {DATETIME_EXAMPLE}"
        )
    try:
        in_range = EARLIEST_SCHEDULE <= value <= LATEST_SCHEDULE
    except OverflowError:
        in_range = False
    if not in_range:
        raise ValueError(
            f"{name}={value.isoformat()} is out of range: schedule {SCHEDULE_RANGE}, "
            f"e.g. {DATETIME_EXAMPLE}"
        )
    return value


def schedule_from_delay(params: Any, name: str = "schedule_in") -> datetime.datetime:
    """
    Now plus the delay given as :class:`datetime.timedelta` keyword arguments.

    :raises TypeError: ``params`` is not a dict of timedelta arguments.
    :raises ValueError: the resulting time is out of range (see :func:`check_schedule`).
    """
    if not isinstance(params, dict):
        raise TypeError(
            f"{name} must be a dict of datetime.timedelta arguments, not "
            f"{type(params).__name__}: e.g. {name}={{'seconds': 30}}"
        )
    try:
        when = utcnow() + datetime.timedelta(**params)
    except (OverflowError, ValueError):
        raise ValueError(
            f"{name}={params!r} is out of range: schedule {SCHEDULE_RANGE}, "
            f"e.g. {name}={{'hours': 2}}"
        ) from None
    except TypeError as exc:
        raise TypeError(
            f"{name}={params!r} is not a valid delay ({exc}): use datetime.timedelta "
            f"arguments, e.g. {name}={{'seconds': 30}}"
        ) from None
    return check_schedule(when, name)


# Year, or year and month only: an ISO form, but too vague to schedule a job.
_PARTIAL_DATE = re.compile(r"\d{4}(-?\d{2})?")


def parse_datetime(raw: str, name: str = "time") -> datetime.datetime:
    """
    Parse an ISO 8601 date and time (a date alone means midnight); a value without
    offset is taken as UTC. Other forms are refused, because they are ambiguous (is
    ``5`` the 5th of this month? which ``PST``?).

    :raises ValueError: not an ISO 8601 date and time, or out of range (see
        :func:`check_schedule`).
    """
    refused = ValueError(
        f"{raw!r} is not an ISO 8601 date and time: use e.g. {DATETIME_EXAMPLE} "
        "(a numeric offset, UTC when none is given)"
    )
    if _PARTIAL_DATE.fullmatch(raw.strip()):
        raise refused
    try:
        value = dateutil.parser.isoparse(raw.strip())
    except (ValueError, OverflowError):
        raise refused from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return check_schedule(value, name)


def check_text(text: str, name: str) -> None:
    """
    :raises ValueError: ``text`` holds what PostgreSQL refuses in text and JSON: a NUL
        character, or a lone surrogate (not valid Unicode).
    """
    if "\x00" in text:
        raise ValueError(
            f"{name} contains a NUL character (\\u0000), which PostgreSQL cannot "
            "store in text or JSON: remove it, or encode the value (e.g. base64)"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} contains {text[exc.start]!r}, a lone surrogate that is not valid "
            "Unicode: PostgreSQL cannot store it; fix the text's decoding"
        ) from None


# Python's json decoder recurses once per level and stops near 1,000 levels (less
# when called deep in a worker's stack): deeper arguments could be stored, never run.
MAX_JSON_DEPTH = 500

_JSONPath = tuple[Any, ...]


def _json_path(path: _JSONPath) -> str:
    parts: list[str] = []
    while path:
        path, key = path
        parts.append(f"[{key!r}]" if path else str(key))
    return "".join(reversed(parts))


def _check_json_number(value: int | float, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        token = "NaN" if math.isnan(value) else f"{'-' if value < 0 else ''}Infinity"
        raise ValueError(
            f"Task argument {name} is {token}, which PostgreSQL's JSON cannot hold "
            "(no NaN nor Infinity): send null, a string or a finite number"
        )
    # Beyond this many digits, Python refuses to write (or read back) an int.
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if isinstance(value, int) and limit and value.bit_length() > limit * 3:
        try:
            str(value)
        except ValueError:
            raise ValueError(
                f"Task argument {name} is an integer of more than {limit} digits, "
                "which JSON cannot carry to Python: send it as a string"
            ) from None


def check_json_args(task_kwargs: dict[str, Any]) -> None:
    """
    Refuse, before anything is sent, the task arguments that PostgreSQL's ``jsonb``
    or a worker's JSON decoder would refuse. The message names the argument (with
    its path inside the value) and what is wrong with it.

    :raises ValueError: NaN or an infinite float, a string or key holding a NUL
        character or a lone surrogate, an integer too long for Python's decoder, or
        nesting deeper than :data:`MAX_JSON_DEPTH` levels.
    """
    stack: list[tuple[_JSONPath, Any, int]] = [
        (((), key), value, 1) for key, value in task_kwargs.items()
    ]
    for key in task_kwargs:
        if isinstance(key, str):
            check_text(key, f"The name of task argument {key!r}")
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, f"Task argument {_json_path(path)}")
        elif isinstance(value, (int, float)):
            _check_json_number(value, _json_path(path))
        elif isinstance(value, (dict, list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                root = path
                while root[0]:
                    root = root[0]
                raise ValueError(
                    f"Task argument {root[1]} is nested more than "
                    f"{MAX_JSON_DEPTH} levels deep: flatten it"
                )
            items: Iterable[tuple[Any, Any]] = (
                value.items() if isinstance(value, dict) else enumerate(value)
            )
            for item_key, item in items:
                if isinstance(item_key, str):
                    check_text(item_key, f"A key of task argument {_json_path(path)}")
                stack.append(((path, item_key), item, depth + 1))


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a placeholder naming its type when its ``__repr__`` fails."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} object, repr failed>"


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


#: Seconds after which a task that outlived its cancellation is cancelled again.
CANCEL_AGAIN_AFTER = 0.1


async def cancel_and_capture_errors(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks, wait for them, and log the errors they ended with."""
    tasks = list(tasks)
    pending = set(tasks)
    while pending:
        # Cancelled again while they run: before Python 3.12, asyncio.wait_for (in
        # psycopg_pool's wait for a connection, for one) swallows a cancellation
        # that comes as its inner wait ends.
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_AFTER)
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
