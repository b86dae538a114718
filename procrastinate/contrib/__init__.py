"""Optional integrations: connectors for other drivers (psycopg2, aiopg, SQLAlchemy)
and a Sphinx extension. Each subpackage needs its own extra dependencies."""

from __future__ import annotations
