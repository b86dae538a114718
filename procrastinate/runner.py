"""What a database operation is, and the two runners that perform any of them.

An :class:`Operation` names a query of ``queries.sql``, builds its arguments from the
caller's (a pure function), and reads its rows (a pure function); the operations of
procrastinate are declared in :mod:`procrastinate.operations`. Calling one binds the
caller's values into a :class:`Call`; :func:`run_async` and :func:`run` perform a
call, on the connector's connections or on one that the caller owns, and
:func:`twin_methods` makes the async and sync methods of one call builder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import typing
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, Literal, TypeVar

from typing_extensions import ParamSpec

from procrastinate import connector, exceptions, sql

P = ParamSpec("P")
T = TypeVar("T")
Rows = list[dict[str, Any]]
Arguments = dict[str, Any]
#: What a query returns: nothing (``execute_query``), its first row (``..._one``, which
#: raises :class:`~procrastinate.exceptions.NoResult` without one) or all its rows.
Fetch = Literal["none", "one", "all"]


@dataclasses.dataclass(frozen=True)
class Result:
    """What a row reader sees: the rows, the query's arguments, and the app's JSON
    decoder for job arguments.

    :param rows: the rows (the first one alone for a ``one`` query, none for ``none``).
    :param arguments: the arguments the query ran with.
    :param json_loads: the connector's JSON decoder, ``None`` for :func:`json.loads`.
    """

    rows: Rows
    arguments: Arguments
    json_loads: Callable[[str], Any] | None = None


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    """
    One operation with the caller's values bound: ready to run.

    :param query: the named query.
    :param arguments: its arguments; ``None`` when there is nothing to ask the
        database (an empty batch): the reader then sees no row.
    :param fetch: what the query returns.
    :param read: turns the result into the operation's value.
    :param unique_violation: turns a unique violation into the caller's error.
    """

    query: sql.Query
    arguments: Arguments | None
    fetch: Fetch
    read: Callable[[Result], T]
    unique_violation: Callable[[exceptions.UniqueViolation], Exception] | None = None


@dataclasses.dataclass(frozen=True)
class Operation(Generic[P, T]):
    """
    A database operation, declared once for the sync and the async API.

    :param query_name: the name of its query in ``queries.sql``.
    :param arguments: builds the query's arguments from the caller's values (pure;
        ``None`` to skip the query).
    :param read: reads the result; given the caller's values too, after it (pure).
    :param fetch: what the query returns.
    :param unique_violation: the error to raise instead of a unique violation.
    """

    query_name: str
    arguments: Callable[P, Arguments | None]
    # Readers take ``(result, *values)`` and most ignore the values: ``...`` spares
    # each of them the builder's whole signature.
    read: Callable[..., T]
    fetch: Fetch = "all"
    unique_violation: Callable[[exceptions.UniqueViolation], Exception] | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Call[T]:
        """Bind the caller's values.

        :raises Exception: whatever the arguments builder raises for bad values.
        """
        return Call(
            query=sql.queries[self.query_name],
            arguments=self.arguments(*args, **kwargs),
            fetch=self.fetch,
            read=lambda result: self.read(result, *args, **kwargs),
            unique_violation=self.unique_violation,
        )


def _method_name(fetch: Fetch, asynchronous: bool, with_connection: bool) -> str:
    # The connector methods, named as in procrastinate 3.x (custom connectors
    # override these names): there is no "none" variant on a caller's connection.
    if with_connection and fetch == "none":
        fetch = "all"
    suffix = "" if fetch == "none" else f"_{fetch}"
    return (
        f"execute_query{suffix}{'_async' if asynchronous else ''}"
        f"{'_with_connection' if with_connection else ''}"
    )


def _prepare(
    target: connector.BaseConnector,
    call: Call[Any],
    connection: Any,
    asynchronous: bool,
) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    method = getattr(
        target, _method_name(call.fetch, asynchronous, connection is not None)
    )
    head = (call.query,) if connection is None else (connection, call.query)
    return method, head


def _read(call: Call[T], returned: Any, json_loads: Any) -> T:
    if call.fetch == "one":
        returned = [returned]
    return call.read(
        Result(
            rows=returned or [], arguments=call.arguments or {}, json_loads=json_loads
        )
    )


@contextlib.contextmanager
def _translated_errors(call: Call[Any]) -> Iterator[None]:
    try:
        yield
    except exceptions.UniqueViolation as error:
        translated = (call.unique_violation or _same)(error)
        if translated is error:
            raise
        raise translated from error


def _same(error: exceptions.UniqueViolation) -> Exception:
    return error


async def run_async(
    target: connector.BaseConnector, call: Call[T], connection: Any = None
) -> T:
    """
    Perform a call on the connector, or on the caller's ``connection``.

    :param target: the app's connector.
    :param call: the operation, bound to the caller's values.
    :param connection: a connection of the connector's driver, owned by the caller
        (who commits); ``None`` to use the connector's own.
    :raises ConnectorException: the database refused the query.
    """
    if call.arguments is None:
        return _read(call, [], target.json_loads)
    method, head = _prepare(target, call, connection, asynchronous=True)
    with _translated_errors(call):
        returned = await method(*head, **call.arguments)
    return _read(call, returned, target.json_loads)


def run(target: connector.BaseConnector, call: Call[T], connection: Any = None) -> T:
    """Synchronous :func:`run_async`, on the connector's sync connector."""
    sync_target = target.get_sync_connector()
    if call.arguments is None:
        return _read(call, [], sync_target.json_loads)
    method, head = _prepare(sync_target, call, connection, asynchronous=False)
    with _translated_errors(call):
        returned = method(*head, **call.arguments)
    return _read(call, returned, sync_target.json_loads)


class OperationRunner:
    """
    The base of the job manager's classes: holds the app's connector and performs
    calls on it (or on a caller's connection), with :func:`run_async` and :func:`run`.

    :param connector: the connector to the database.
    """

    def __init__(self, connector: connector.BaseConnector) -> None:
        self.connector = connector

    async def _run_async(self, call: Call[T], connection: Any = None) -> T:
        return await run_async(self.connector, call, connection)

    def _run(self, call: Call[T], connection: Any = None) -> T:
        return run(self.connector, call, connection)


def twin_methods(
    build: Callable[Concatenate[Any, P], Call[T]],
) -> tuple[
    Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
    Callable[Concatenate[Any, P], T],
]:
    """
    The async and the sync method of an :class:`OperationRunner` that perform the
    call ``build`` makes: a pair of methods declared once. ``build`` is a method
    named ``_<name>``, documented as the async one; the two are ``<name>_async`` and
    ``<name>`` (``Synchronous version of ...``), with the parameters of ``build``
    and the type of value its call reads. A ``connection`` parameter of ``build``
    (which ``build`` ignores) is the caller's connection to run the call on.

    :raises NameError: an annotation of ``build`` names what its module imports only
        for type checking (they are read when the class is made).
    """
    name = build.__name__.lstrip("_")
    connection_of = _connection_finder(build)

    async def method_async(
        self: OperationRunner, /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        call = build(self, *args, **kwargs)
        return await self._run_async(call, connection_of(args, kwargs))

    def method(self: OperationRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(build(self, *args, **kwargs), connection_of(args, kwargs))

    _describe(method_async, build, f"{name}_async", build.__doc__)
    _describe(method, build, name, f"Synchronous version of :meth:`{name}_async`.")
    return method_async, method


def _connection_finder(
    build: Callable[..., Any],
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    # Where the caller's values put the connection: by name, or at its position
    # (after self); None when build has no such parameter or the caller gave none.
    names = list(inspect.signature(build).parameters)[1:]
    position = names.index("connection") if "connection" in names else None

    def connection_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if position is None:
            return None
        if position < len(args):
            return args[position]
        return kwargs.get("connection")

    return connection_of


def _describe(
    method: Callable[..., Any],
    build: Callable[..., Any],
    name: str,
    doc: str | None,
) -> None:
    # help() and the documentation read the parameters of the builder; the value
    # returned is what its call reads (the T of Call[T]).
    hints = typing.get_type_hints(build)
    (value,) = typing.get_args(hints.pop("return"))
    if value is type(None):
        value = None
    signature = inspect.signature(build)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            parameter.replace(annotation=hints.get(parameter.name, parameter.empty))
            for parameter in signature.parameters.values()
        ],
        return_annotation=value,
    )
    method.__annotations__ = {**hints, "return": value}
    # Where the code is declared, for tools that look up the class by module.
    method.__module__ = build.__module__
    method.__name__ = name
    method.__qualname__ = f"{build.__qualname__.rpartition('.')[0]}.{name}"
    method.__doc__ = doc
