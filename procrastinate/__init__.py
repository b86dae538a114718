"""Procrastinate: a PostgreSQL-based distributed task queue for Python."""

from __future__ import annotations

from procrastinate import metadata as _metadata
from procrastinate.app import App
from procrastinate.blueprints import Blueprint
from procrastinate.connector import BaseConnector
from procrastinate.job_context import JobContext
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.retry import BaseRetryStrategy, RetryDecision, RetryStrategy
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from procrastinate.utils import MovedElsewhere as _MovedElsewhere

__all__ = [
    "App",
    "BaseConnector",
    "BaseRetryStrategy",
    "Blueprint",
    "JobContext",
    "PsycopgConnector",
    "RetryDecision",
    "RetryStrategy",
    "SyncPsycopgConnector",
]

AiopgConnector = _MovedElsewhere(
    "AiopgConnector", "procrastinate.contrib.aiopg.AiopgConnector"
)
Psycopg2Connector = _MovedElsewhere(
    "Psycopg2Connector", "procrastinate.contrib.psycopg2.Psycopg2Connector"
)

_meta = _metadata.extract_metadata()
__author__ = _meta["author"]
__author_email__ = _meta["email"]
__license__ = _meta["license"]
__url__ = _meta["url"]
__version__ = _meta["version"]
