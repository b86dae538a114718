"""The psycopg2 connector: ``pip install procrastinate[psycopg2]``."""

from __future__ import annotations

from procrastinate.contrib.psycopg2.psycopg2_connector import Psycopg2Connector

__all__ = ["Psycopg2Connector"]
