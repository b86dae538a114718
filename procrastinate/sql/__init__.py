"""The SQL of procrastinate: ``schema.sql``, the named queries of ``queries.sql``, and
the migrations."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

_HEADER = re.compile(r"^-- (?P<name>[a-z0-9_]+) --$", re.MULTILINE)


class Query(str):
    """
    The SQL text of a named query of ``queries.sql``. It is a plain string to a
    connector (3.x custom connectors receive the SQL as before), and carries its
    ``name`` so that a connector that does not speak SQL (the in-memory one) can
    dispatch on it.
    """

    name: str

    def __new__(cls, name: str, text: str) -> Query:
        query = super().__new__(cls, text)
        query.name = name
        return query

    def __reduce__(self) -> tuple[Any, ...]:
        return (Query, (self.name, str(self)))


def parse_query_file(text: str) -> dict[str, Query]:
    """
    Split a query file into named queries. Each query starts with a line
    ``-- name --``; the comment lines right after it describe it and are dropped.

    :raises ValueError: a name is used twice.
    """
    queries: dict[str, Query] = {}
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None]):
        body = text[header.end() : following.start() if following else len(text)]
        lines = [
            line for line in body.strip().splitlines() if not line.startswith("--")
        ]
        name = header.group("name")
        if name in queries:
            raise ValueError(f"Query {name!r} is defined twice")
        queries[name] = Query(name, "\n".join(lines).strip())
    return queries


def read_sql_file(name: str) -> str:
    """The text of a SQL file shipped in this package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


queries = parse_query_file(read_sql_file("queries.sql"))

#: The queries of the monitoring tools (metrics, dashboard): ``monitoring.sql``.
monitoring_queries = parse_query_file(read_sql_file("monitoring.sql"))

#: The listener's proxy check (``listener.sql``), outside the connector interface.
listener_queries = parse_query_file(read_sql_file("listener.sql"))
