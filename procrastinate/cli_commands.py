"""What the subcommands of the ``procrastinate`` command line do, once their
arguments are read: each takes the open app and the parsed arguments. Loading the app
named by ``--app`` is here too."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any

import procrastinate
from procrastinate import (
    connector,
    exceptions,
    monitoring_commands,
    queue_operations,
    shell,
    utils,
)
from procrastinate import schema as schema_module
from procrastinate.cli_inputs import load_json_args


def load_app(path: str) -> procrastinate.App:
    """
    The app named on the command line, or an app that explains how to name one.

    :raises LoadFromPathError: the path does not lead to an App.
    :raises SyncConnectorConfigurationError: the app's connector is synchronous.
    """
    if not path:
        return procrastinate.App(connector=MissingAppConnector())
    current_directory_first()
    app = procrastinate.App.from_path(path)
    if not isinstance(app.connector, connector.BaseAsyncConnector):
        raise exceptions.SyncConnectorConfigurationError(
            f"The command line needs an asynchronous connector, but {path} uses "
            f"{type(app.connector).__name__}: use PsycopgConnector."
        )
    return app


def current_directory_first() -> None:
    """
    Make the modules of the current directory importable by ``--app``, as they are
    for ``python -m`` (and for ``celery -A``): the console script's own directory is
    first on ``sys.path`` instead.
    """
    here = os.getcwd()
    if here not in (os.path.abspath(entry) for entry in sys.path):
        sys.path.insert(0, here)


class MissingAppConnector(connector.BaseAsyncConnector):
    """Stands in for a connector when no app was given: every use says so."""

    async def open_async(self, pool: Any = None) -> None:
        pass

    async def close_async(self) -> None:
        pass

    async def _execute_async(self, query: str, arguments: dict[str, Any]) -> None:
        raise exceptions.MissingApp


async def run_worker(app: procrastinate.App, **kwargs: Any) -> None:
    """Run a worker until stopped."""
    queues = kwargs.get("queues")
    monitoring_commands.check_worker_options(kwargs)
    print(f"Launching a worker on {utils.queues_display(queues)}", file=sys.stderr)
    await monitoring_commands.run_worker(app, **kwargs)


async def defer(
    app: procrastinate.App,
    task: str,
    json_args: str | None,
    ignore_already_enqueued: bool,
    unknown: bool,
    **configure_kwargs: Any,
) -> None:
    """Defer one job of ``task``."""
    json_loads = app.connector.json_loads or json.loads
    args = load_json_args(json_args, json_loads)
    options = {
        key: value for key, value in configure_kwargs.items() if value is not None
    }
    deferrer = app.configure_task(name=task, allow_unknown=unknown, **options)
    job = deferrer.make_new_job(**args)
    print(f"Launching a job: {job.call_string.replace('[None]', '')}", file=sys.stderr)
    try:
        job_id = await deferrer.defer_async(**args)
    except exceptions.AlreadyEnqueued as exc:
        if not ignore_already_enqueued:
            raise
        print(f"{exc} (ignored)", file=sys.stderr)
        return
    print(job_id)


async def schema(app: procrastinate.App, action: str) -> None:
    """Apply or print the schema."""
    schema_manager = app.schema_manager
    if action == "read":
        print(schema_manager.get_schema(), end="")
        return
    if action == "migrations_path":
        print(schema_manager.get_migrations_path())
        return
    print("Applying schema", file=sys.stderr)
    await schema_manager.apply_schema_async()
    print("Done", file=sys.stderr)


async def healthchecks(app: procrastinate.App) -> None:
    """Check the app, the connection and the schema, including its migrations.

    :raises RuntimeError: the schema is missing.
    :raises MissingMigrations: the schema lacks a migration that this version needs.
    """
    print("App configuration: OK")
    found = await app.check_connection_async()
    print("DB connection: OK")
    if not found:
        raise RuntimeError(
            "Connection to the database works, but the procrastinate_jobs table was "
            "not found. Have you applied the schema (procrastinate schema --apply) or "
            "the migrations?"
        )
    print("Found procrastinate_jobs table: OK")
    missing = await app.schema_manager.get_missing_migrations_async()
    print(schema_module.migrations_line(schema_module.check_migrations(missing)))


async def shell_command(app: procrastinate.App, shell_command: list[str]) -> None:
    """Run the administration shell."""
    if shell_command:
        one_shot = shell.ProcrastinateShell(
            job_manager=app.job_manager, raise_errors=True
        )
        await utils.sync_to_async(one_shot.onecmd, shlex.join(shell_command))
        return
    admin = shell.ProcrastinateShell(job_manager=app.job_manager)
    await utils.sync_to_async(admin.cmdloop)


async def queue(app: procrastinate.App, queue_action: str, queue: str | None) -> None:
    """Pause or resume a queue, or list the queues."""
    job_manager = app.job_manager
    if queue_action == "list":
        stats = await job_manager.list_queues_async()
        states = await job_manager.list_queue_states_async()
        for line in shell.queue_lines(stats, states):
            print(line)
        return
    assert queue is not None
    pause = queue_action == "pause"
    if pause:
        changed = await job_manager.pause_queue_async(queue)
    else:
        changed = await job_manager.resume_queue_async(queue)
    print(shell.pause_text(queue, pause, changed))


async def limit_queue(
    app: procrastinate.App,
    queue: str,
    max_running: int | None,
    max_starts: int | None,
    per: float | None,
    **_: Any,
) -> None:
    """Set the limits of ``queue``."""
    await app.job_manager.set_queue_limit_async(
        queue, max_running=max_running, max_starts=max_starts, per=per
    )
    print(
        f"Limited queue {queue!r}: {queue_operations.limit_text(max_running, max_starts, per)}"
    )


async def unlimit_queue(app: procrastinate.App, queue: str, **_: Any) -> None:
    """Remove the limits of ``queue``."""
    if await app.job_manager.clear_queue_limit_async(queue):
        print(f"Queue {queue!r} has no limits any more")
    else:
        print(f"Queue {queue!r} had no limits")


async def list_queue_limits(app: procrastinate.App, **_: Any) -> None:
    """Print the limited queues, one per line."""
    limits = await app.job_manager.list_queue_limits_async()
    if not limits:
        print("No queue has limits")
    for item in limits:
        text = queue_operations.limit_text(
            item.max_running, item.max_starts, item.per_seconds
        )
        print(f"{item.queue}: {text}; {item.running} running")
