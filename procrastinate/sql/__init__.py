"""The SQL of procrastinate: ``schema.sql``, the named queries of ``queries.sql``, and
the migrations."""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- (?P<name>[a-z0-9_]+) --$", re.MULTILINE)


def parse_query_file(text: str) -> dict[str, str]:
    """
    Split a query file into named queries. Each query starts with a line
    ``-- name --``; the comment lines right after it describe it and are dropped.

    :raises ValueError: a name is used twice.
    """
    queries: dict[str, str] = {}
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None]):
        body = text[header.end() : following.start() if following else len(text)]
        lines = [
            line for line in body.strip().splitlines() if not line.startswith("--")
        ]
        name = header.group("name")
        if name in queries:
            raise ValueError(f"Query {name!r} is defined twice")
        queries[name] = "\n".join(lines).strip()
    return queries


def read_sql_file(name: str) -> str:
    """The text of a SQL file shipped in this package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


queries = parse_query_file(read_sql_file("queries.sql"))
