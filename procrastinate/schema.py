"""Creating the procrastinate schema in a database, and knowing which migrations it
lacks.

Each migration file records its own name in the ``procrastinate_migrations`` table
(``schema.sql`` records them all): comparing that record with the files of the
installed package tells which ones a database has not applied yet.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable
from importlib import resources
from typing import Any

from procrastinate import connector as connector_module
from procrastinate import exceptions, sql

# Serials 50 to 99 name the "post" migrations, applied after the new code is deployed.
FIRST_POST_SERIAL = 50


class MissingMigrations(exceptions.ProcrastinateException):
    """
    The database lacks a migration that this version of procrastinate needs.

    :param missing: the names of the missing migration files, in applying order.
    """

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"The database lacks the migration {missing[0]}, which this version of "
            "procrastinate needs: apply the migrations from that one on, in order"
        )


def is_post_migration(name: str) -> bool:
    """
    Whether a migration file is applied after the code that needs it is deployed
    (``xx.yy.zz_ab_post_...``: ``ab`` from 50 to 99).

    :param name: a migration file name.
    """
    return int(name.split("_", 2)[1]) >= FIRST_POST_SERIAL


def missing_migrations(packaged: Iterable[str], recorded: Iterable[str]) -> list[str]:
    """
    The packaged migration files that are not recorded, in applying order.

    :param packaged: the migration files of the installed package.
    :param recorded: the migration files the database records as applied.
    """
    done = set(recorded)
    return sorted(name for name in packaged if name not in done)


def check_migrations(missing: list[str]) -> list[str]:
    """
    Decide whether the code can run with these migrations missing: it can when only
    post migrations are (they remove what the previous version used).

    :param missing: the missing migration files, in applying order.
    :returns: the missing post migrations.
    :raises MissingMigrations: a pre migration is missing; the error names the first
        missing migration, since the files apply in order.
    """
    if all(is_post_migration(name) for name in missing):
        return missing
    raise MissingMigrations(missing)


def migrations_line(missing_post: list[str]) -> str:
    """
    The healthchecks line of a database that has every migration the code needs.

    :param missing_post: the post migrations it lacks, named in the line.
    """
    if not missing_post:
        return "Migrations: OK"
    return (
        "Migrations: OK, but apply the post migrations once no worker of the "
        f"previous version runs: {', '.join(missing_post)}"
    )


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

    @classmethod
    def get_migration_names(cls) -> list[str]:
        """The names of the packaged migration files, in applying order."""
        return sorted(
            path.name for path in pathlib.Path(cls.get_migrations_path()).glob("*.sql")
        )

    @staticmethod
    def _recorded_names(rows: list[dict[str, Any]]) -> list[str]:
        return [str(row["name"]) for row in rows]

    async def get_missing_migrations_async(self) -> list[str]:
        """
        The packaged migration files that the database has not applied, in applying
        order: all of them on a database of procrastinate 3.x, which kept no record.

        :raises ConnectorException: the database cannot be read.
        """
        recorded = await self.connector.execute_query_one_async(
            sql.queries["migrations_recorded"]
        )
        rows = (
            await self.connector.execute_query_all_async(sql.queries["list_migrations"])
            if recorded["recorded"]
            else []
        )
        return missing_migrations(
            self.get_migration_names(), self._recorded_names(rows)
        )

    def get_missing_migrations(self) -> list[str]:
        """
        Synchronous version of :meth:`get_missing_migrations_async`.

        :raises ConnectorException: the database cannot be read.
        """
        sync_connector = self.connector.get_sync_connector()
        recorded = sync_connector.execute_query_one(sql.queries["migrations_recorded"])
        rows = (
            sync_connector.execute_query_all(sql.queries["list_migrations"])
            if recorded["recorded"]
            else []
        )
        return missing_migrations(
            self.get_migration_names(), self._recorded_names(rows)
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
