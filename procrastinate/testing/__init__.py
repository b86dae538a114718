"""Testing helpers: a connector that keeps the database in memory.

:class:`InMemoryConnector` lets the tests of an application defer jobs, run workers and
inspect the result without PostgreSQL. It runs the named queries of
:mod:`procrastinate.sql` in Python, with the semantics of the SQL functions and
triggers of ``schema.sql``: queueing-lock uniqueness, the priority-aware lock rule of
fetching, the events of each status change and the LISTEN/NOTIFY notifications.

The package, in layers:

- :mod:`~procrastinate.testing.connector`: the connector (dispatch by query name, the
  lock, the listeners);
- :mod:`~procrastinate.testing.job_handlers`,
  :mod:`~procrastinate.testing.read_handlers`,
  :mod:`~procrastinate.testing.admin_handlers`: one handler per named query;
- :mod:`~procrastinate.testing.registry`: how a query finds its handler;
- :mod:`~procrastinate.testing.tables`: the rows and their triggers;
- :mod:`~procrastinate.testing.rules`: the constraints and rules of the schema, as
  pure functions.

It imports no database driver, and nothing above the connector layer.
"""

from __future__ import annotations

from procrastinate.testing.connector import InMemoryConnector
from procrastinate.testing.registry import UnknownQuery, query_names
from procrastinate.testing.rules import Row

__all__ = ["InMemoryConnector", "Row", "UnknownQuery", "query_names"]
