"""Creating the procrastinate schema in a database."""

from __future__ import annotations

import pathlib
from importlib import resources

from procrastinate import connector as connector_module
from procrastinate import sql


class SchemaManager:
    """
    Reads the packaged schema and applies it through a connector.

    :param connector: the connector to the database.
    """

    def __init__(self, connector: connector_module.BaseConnector) -> None:
        self.connector = connector

    @staticmethod
    def get_schema() -> str:
        """The SQL that creates the schema of a new database."""
        return sql.read_sql_file("schema.sql")

    @staticmethod
    def get_migrations_path() -> str:
        """The folder of the SQL migration scripts, for migration tools."""
        return str(
            pathlib.Path(str(resources.files("procrastinate.sql"))) / "migrations"
        )

    def apply_schema(self) -> None:
        """
        Create the schema (synchronously).

        :raises ConnectorException: the schema, or part of it, exists already.
        """
        self.connector.get_sync_connector().execute_query(self.get_schema())

    async def apply_schema_async(self) -> None:
        """
        Create the schema.

        :raises ConnectorException: the schema, or part of it, exists already.
        """
        await self.connector.execute_query_async(self.get_schema())
