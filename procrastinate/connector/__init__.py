"""How procrastinate talks to PostgreSQL.

:mod:`~procrastinate.connector.base` holds the interface of procrastinate 3.x that the
job manager calls; :mod:`~procrastinate.connector.template` the base classes that
every connector derives from, which own the retry policy, the error classes and the
listener's reconnection; :mod:`~procrastinate.connector.errors` what a driver error
means. The names below keep their 3.x import path, ``procrastinate.connector``.
"""

from __future__ import annotations

from procrastinate.connector.base import (
    LISTEN_TIMEOUT,
    BaseConnector,
    Notify,
    Rows,
    first_row,
    is_json_argument,
)
from procrastinate.connector.template import (
    MAX_ATTEMPTS,
    Backoff,
    BaseAsyncConnector,
    BaseSyncConnector,
)

# Their 3.x path is their name, in reprs and in the documentation alike.
for _public in (BaseConnector, BaseSyncConnector, BaseAsyncConnector, Notify, Backoff):
    _public.__module__ = __name__

__all__ = [
    "LISTEN_TIMEOUT",
    "MAX_ATTEMPTS",
    "Backoff",
    "BaseAsyncConnector",
    "BaseConnector",
    "BaseSyncConnector",
    "Notify",
    "Rows",
    "first_row",
    "is_json_argument",
]
