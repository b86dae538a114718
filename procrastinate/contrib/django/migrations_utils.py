"""What the Django migrations of this app are made of: each runs one of
procrastinate's SQL migration files."""

from __future__ import annotations

from importlib import resources
from typing import Any

from django.db import migrations, router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState


def read_sql_migration(name: str) -> str:
    """The text of ``procrastinate/sql/migrations/<name>``, from the installed
    package."""
    path = resources.files("procrastinate.sql").joinpath("migrations").joinpath(name)
    return path.read_text(encoding="utf-8")


class RunProcrastinateSQL(migrations.RunSQL):
    """
    Run the SQL migration file ``name`` of procrastinate, as one script (its
    functions hold semicolons, which Django's statement splitting would break).
    Irreversible, like the SQL migrations themselves.

    :param name: a file name of ``procrastinate/sql/migrations``, e.g.
        ``"03.10.00_01_pre_upgrade_from_3_10.sql"``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.script = read_sql_migration(name)
        super().__init__(sql=self.script)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            f"{RunProcrastinateSQL.__module__}.{RunProcrastinateSQL.__qualname__}",
            [],
            {"name": self.name},
        )

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if router.allow_migrate(
            schema_editor.connection.alias, app_label, **self.hints
        ):
            schema_editor.execute(self.script, params=None)

    def describe(self) -> str:
        return f"Procrastinate SQL migration {self.name}"
