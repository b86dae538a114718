"""The parsers of the ``procrastinate`` subcommands that administer and watch the
database rather than run jobs: ``schema``, ``healthchecks``, ``shell``, ``queue``,
``metrics`` and ``web``. :func:`procrastinate.cli_parser.create_parser` adds them."""

from __future__ import annotations

import argparse
from typing import Any

from procrastinate import cli_commands, cli_inputs, monitoring_commands
from procrastinate.cli_flags import HelpFormatter, add_argument


def add_schema_command(subparsers: Any) -> None:
    """``procrastinate schema``."""
    parser = subparsers.add_parser(
        "schema",
        help="Create the database schema, or show it",
        description="Apply the Procrastinate schema to a new database, or print it",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=cli_commands.schema, action="apply")
    group = parser.add_mutually_exclusive_group()
    for flag, action, help_text in (
        ("--apply", "apply", "Apply the schema to the database (the default)"),
        ("--read", "read", "Print the schema SQL"),
        (
            "--migrations-path",
            "migrations_path",
            "Print the path of the SQL migration scripts",
        ),
    ):
        group.add_argument(
            flag, action="store_const", const=action, dest="action", help=help_text
        )


def add_healthchecks_command(subparsers: Any) -> None:
    """``procrastinate healthchecks``."""
    parser = subparsers.add_parser(
        "healthchecks",
        help="Check the app and the database",
        description="Check the app configuration and the database connection and schema",
    )
    parser.set_defaults(func=cli_commands.healthchecks)


def add_shell_command(subparsers: Any) -> None:
    """``procrastinate shell``."""
    parser = subparsers.add_parser(
        "shell",
        help="Administration shell for Procrastinate",
        description="Inspect and manage jobs: interactive, or one command given as "
        "arguments",
    )
    parser.set_defaults(func=cli_commands.shell_command)
    parser.add_argument(
        "shell_command",
        nargs="*",
        help="A shell command to run instead of starting the interactive shell",
    )


def add_queue_command(subparsers: Any) -> None:
    """``procrastinate queue pause|resume|list|limit|unlimit|limits``."""
    parser = subparsers.add_parser(
        "queue",
        help="Pause, resume, list or limit queues",
        description="Pause a queue (every worker stops taking its jobs; running jobs "
        "finish, jobs can still be deferred), resume it, list the queues, or limit how "
        "many of its jobs run or start across all workers",
    )
    actions = parser.add_subparsers(
        dest="queue_action", metavar="ACTION", required=True
    )
    for action, help_text in (
        ("pause", "Stop every worker from taking the queue's jobs, until resumed"),
        ("resume", "Let workers take the queue's jobs again, at once"),
    ):
        action_parser = actions.add_parser(
            action, help=help_text, description=help_text
        )
        action_parser.set_defaults(func=cli_commands.queue)
        action_parser.add_argument(
            "queue", type=cli_inputs.parse_queue_name, help="The queue's name"
        )
    list_parser = actions.add_parser(
        "list",
        help="List the queues: paused or active, and their jobs",
        description="List the queues that hold jobs or were ever paused: paused or "
        "active, and their number of jobs per status",
    )
    list_parser.set_defaults(func=cli_commands.queue, queue=None)
    limit = actions.add_parser(
        "limit",
        help="Set the limits of a queue, replacing those it had",
        description="Set the limits of a queue, replacing those it had; workers "
        "honour them at their next fetch",
        formatter_class=HelpFormatter,
    )
    limit.set_defaults(func=cli_commands.limit_queue)
    limit.add_argument(
        "queue", type=cli_inputs.parse_queue_name, help="The queue's name"
    )
    limit.add_argument(
        "--max-running",
        type=cli_inputs.parse_positive_int,
        help="At most this many jobs of the queue run at once",
    )
    limit.add_argument(
        "--max-starts",
        type=cli_inputs.parse_positive_int,
        help="At most this many jobs of the queue start in any period of --per "
        "(1 to 1000)",
    )
    limit.add_argument(
        "--per",
        type=cli_inputs.parse_interval,
        help="The period of --max-starts, in seconds",
    )
    unlimit = actions.add_parser(
        "unlimit", help="Remove the limits of a queue", formatter_class=HelpFormatter
    )
    unlimit.set_defaults(func=cli_commands.unlimit_queue)
    unlimit.add_argument(
        "queue", type=cli_inputs.parse_queue_name, help="The queue's name"
    )
    listing = actions.add_parser(
        "limits",
        help="List the limited queues and how many of their jobs run",
        formatter_class=HelpFormatter,
    )
    listing.set_defaults(func=cli_commands.list_queue_limits)


def add_metrics_command(subparsers: Any) -> None:
    """``procrastinate metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="Serve the queue-level Prometheus metrics",
        description="Serve the Prometheus metrics of the database's queues (jobs per "
        "queue and status, oldest ready job, workers alive) until interrupted; needs "
        "procrastinate[metrics]. Run one per database.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=monitoring_commands.serve_metrics)
    add_server_arguments(parser, "the metrics", "METRICS", port=9090, host="0.0.0.0")


def add_web_command(subparsers: Any) -> None:
    """``procrastinate web``."""
    parser = subparsers.add_parser(
        "web",
        help="Serve the web dashboard",
        description="Serve the web dashboard of the queues until interrupted; needs "
        "procrastinate[web]. Any address but a loopback one needs a credential in "
        "PROCRASTINATE_WEB_CREDENTIAL (user:password), asked with HTTP Basic "
        "authentication.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=monitoring_commands.serve_web)
    add_server_arguments(parser, "the dashboard", "WEB", port=8080, host="127.0.0.1")


def add_server_arguments(
    parser: argparse.ArgumentParser, what: str, envvar: str, *, port: int, host: str
) -> None:
    """``--port`` and ``--host`` of a command that serves ``what`` over HTTP, also
    read from ``PROCRASTINATE_<envvar>_PORT`` and ``..._HOST``."""
    add_argument(
        parser,
        "--port",
        type=monitoring_commands.parse_port,
        default=port,
        help=f"Port to serve {what} on",
        envvar=f"{envvar}_PORT",
    )
    add_argument(
        parser,
        "--host",
        default=host,
        help=f"Address to serve {what} on",
        envvar=f"{envvar}_HOST",
    )
