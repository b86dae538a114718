"""How the in-memory connector finds the handler of a query: by its name.

Each handler module fills a :class:`Registry`; a handler is a function of the
:class:`~procrastinate.testing.tables.Tables` and the query's arguments returning the
rows of the query. The name of a query is the ``name`` of a :class:`sql.Query
<procrastinate.sql.Query>`; a plain SQL text is looked up once in a table of the
named queries' texts (and of the schema, as ``apply_schema``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

from procrastinate import exceptions, sql
from procrastinate.testing.rules import Row

#: How a query is run: ``execute_query`` (``run``), ``execute_query_one`` (``one``),
#: ``execute_query_all`` (``all``).
Kind = Literal["run", "one", "all"]
HandlerFunction = Callable[..., list[Row]]

_METHODS: dict[Kind, str] = {
    "run": "execute_query",
    "one": "execute_query_one",
    "all": "execute_query_all",
}


class UnknownQuery(exceptions.ProcrastinateException):
    """
    The in-memory connector was given a query it does not implement.
    """


@dataclasses.dataclass(frozen=True)
class Handler:
    """The function running a named query, and the ways the query may be run."""

    function: HandlerFunction
    kinds: frozenset[Kind]


class Registry:
    """The handlers of a group of named queries."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def add(self, name: str, function: HandlerFunction, *kinds: Kind) -> None:
        """
        Make ``function`` the handler of the query ``name``, run in these ways.

        :raises ValueError: the query has a handler already.
        """
        if name in self.handlers:
            raise ValueError(f"The query {name!r} has two handlers")
        self.handlers[name] = Handler(function=function, kinds=frozenset(kinds))

    def handles(
        self, name: str, *kinds: Kind
    ) -> Callable[[HandlerFunction], HandlerFunction]:
        """A decorator doing :meth:`add` with the decorated function."""

        def register(function: HandlerFunction) -> HandlerFunction:
            self.add(name, function, *kinds)
            return function

        return register


def merge(*registries: Registry) -> dict[str, Handler]:
    """
    The handlers of all these registries, by query name.

    :raises ValueError: a query has handlers in two of them.
    """
    merged: dict[str, Handler] = {}
    for registry in registries:
        twice = merged.keys() & registry.handlers.keys()
        if twice:
            raise ValueError(f"The queries {sorted(twice)} have two handlers")
        merged.update(registry.handlers)
    return merged


def find(handlers: dict[str, Handler], name: str, kind: Kind) -> HandlerFunction:
    """
    The handler of a query run in that way.

    :raises UnknownQuery: there is none.
    """
    handler = handlers.get(name)
    if handler is None or kind not in handler.kinds:
        raise UnknownQuery(
            f"InMemoryConnector does not run the query {name!r} through "
            f"{_METHODS[kind]}"
        )
    return handler.function


def schema_text() -> str:
    """The SQL of ``schema.sql``, which ``SchemaManager.apply_schema`` sends."""
    return sql.read_sql_file("schema.sql")


def query_names() -> dict[str, str]:
    """The name of each query text :class:`InMemoryConnector
    <procrastinate.testing.InMemoryConnector>` knows: the named queries of
    :mod:`procrastinate.sql`, and the schema as ``apply_schema``."""
    return dict(_query_names())


@functools.cache
def _query_names() -> dict[str, str]:
    names: dict[str, str] = {str(text): name for name, text in sql.queries.items()}
    names[schema_text()] = "apply_schema"
    return names


def query_name(query: str) -> str:
    """
    The name of a query: that of a :class:`~procrastinate.sql.Query`, else the name
    of its text.

    :raises UnknownQuery: a text that is none of :func:`query_names`.
    """
    if isinstance(query, sql.Query):
        return query.name
    name = _query_names().get(query)
    if name is not None:
        return name
    first_line = query.strip().splitlines()[0] if query.strip() else ""
    raise UnknownQuery(
        "InMemoryConnector only runs the queries of procrastinate.sql; "
        f"unknown query: {first_line!r}"
    )
