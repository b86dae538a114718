"""``./manage.py procrastinate``: the ``procrastinate`` command line, on the project's
app and database.

It takes the same subcommands as the ``procrastinate`` command (``worker``,
``defer``, ``healthchecks``, ``shell``, ``queue``) but neither ``--app`` (the app is the
project's) nor ``schema`` (Django migrations create it). For the duration of the
command, the app runs on the connector of ``DjangoConnector.get_worker_connector()``:
workers need an asynchronous connection that can LISTEN, which Django's connection is
not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.management import base

import procrastinate
from procrastinate import cli, utils
from procrastinate import connector as connector_module
from procrastinate.contrib.django import exceptions, healthchecks, procrastinate_app
from procrastinate.contrib.django.settings import settings

# Options that Django adds to every command (or call_command passes), which the
# procrastinate functions don't take.
DJANGO_OPTIONS = frozenset(
    {
        "verbosity",
        "settings",
        "pythonpath",
        "traceback",
        "no_color",
        "force_color",
        "skip_checks",
        "stdout",
        "stderr",
    }
)


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """``worker``, ``defer``, ``healthchecks`` (Django's variant), ``shell`` and
    ``queue``."""
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli.add_worker_command(subparsers)
    cli.add_defer_command(subparsers)
    cli.add_healthchecks_command(subparsers)
    subparsers.choices["healthchecks"].set_defaults(func=healthchecks.check_worker_app)
    cli.add_shell_command(subparsers)
    cli.add_queue_command(subparsers)


def configure_logging(verbosity: int, format: str, style: str) -> None:
    """
    Log as the ``procrastinate`` command does, unless the project's ``LOGGING``
    setting already gives a handler to procrastinate's logger or to the root logger:
    then only the level of procrastinate's logger is set (``DEBUG`` with ``-v``,
    ``INFO`` if the project sets none), as a second handler would print every line
    twice.
    """
    procrastinate_logger = logging.getLogger("procrastinate")
    if not (procrastinate_logger.handlers or logging.getLogger().handlers):
        cli.configure_logging(verbosity=verbosity, format=format, style=style)
    elif verbosity >= 1:
        procrastinate_logger.setLevel(logging.DEBUG)
    elif procrastinate_logger.level == logging.NOTSET:
        procrastinate_logger.setLevel(logging.INFO)


def current_app() -> procrastinate.App:
    """The project's app.

    :raises DjangoNotReady: Django has not built it (app not installed).
    """
    app = procrastinate_app.current_app
    if not isinstance(app, procrastinate.App):
        raise exceptions.DjangoNotReady
    return app


def worker_connector(app: procrastinate.App) -> connector_module.BaseConnector:
    """The connector for the duration of the command: the worker connector of a
    :class:`~procrastinate.contrib.django.DjangoConnector`, else the app's own."""
    get_worker_connector = getattr(app.connector, "get_worker_connector", None)
    if get_worker_connector is None:
        return app.connector
    connector: connector_module.BaseConnector = get_worker_connector()
    return connector


async def run(
    func: Callable[..., Awaitable[None]], app: procrastinate.App, **kwargs: Any
) -> None:
    """Run a command function with the app open."""
    async with app.open_async():
        await func(app=app, **kwargs)


def error_message(exc: BaseException) -> str:
    """The most useful message of an exception chain: the first non-empty one."""
    messages = [str(cause) for cause in utils.causes(exc) if str(cause)]
    return messages[0] if messages else repr(exc)


class Command(base.BaseCommand):
    """The ``procrastinate`` management command."""

    help = "Run procrastinate's command line on the project's app"
    # Replaced by procrastinate's -v/--verbose and -V/--version (see create_parser).
    suppressed_base_arguments = {"--verbosity", "--version"}

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> base.CommandParser:
        # procrastinate's -v (verbose) and -V/--version take over Django's -v
        # (--verbosity stays) and --version.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: base.CommandParser) -> None:
        cli.add_global_arguments(parser, include_app=False)
        add_subcommands(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        parsed = {
            key: value for key, value in options.items() if key not in DJANGO_OPTIONS
        }
        configure_logging(
            verbosity=parsed.pop("verbose"),
            format=parsed.pop("log_format"),
            style=parsed.pop("log_format_style"),
        )
        command = parsed.pop("command", None)
        if not command:
            self.print_help("manage.py", "procrastinate")
            return
        try:
            self._execute(command, parsed)
        except Exception as exc:
            raise base.CommandError(error_message(exc)) from exc

    def _execute(self, command: str, parsed: dict[str, Any]) -> None:
        func = parsed.pop("func")
        app = current_app()
        if command == "healthchecks":
            alias = settings.database_alias
            healthchecks.check_database(alias)
            healthchecks.check_migrations(alias)
            healthchecks.check_django_app(app)
        with app.replace_connector(worker_connector(app)):
            asyncio.run(run(func, app, **parsed))
