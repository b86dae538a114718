"""The ``procrastinate`` command line: parse, open the app, run the subcommand, and
turn any error into one line and exit code 1.

The parser and its flags are in :mod:`~procrastinate.cli_parser` (with
:mod:`~procrastinate.cli_admin_parser` and :mod:`~procrastinate.cli_flags`), the
subcommands in :mod:`~procrastinate.cli_commands`, the readers of argument values in
:mod:`~procrastinate.cli_inputs`; their names stay importable from here, as in
procrastinate 3.x.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from procrastinate import exceptions, utils
from procrastinate.cli_admin_parser import (
    add_healthchecks_command,
    add_queue_command,
    add_schema_command,
    add_shell_command,
)
from procrastinate.cli_commands import (
    MissingAppConnector,
    current_directory_first,
    defer,
    healthchecks,
    load_app,
    run_worker,
    schema,
    shell_command,
)
from procrastinate.cli_flags import (
    ENV_PREFIX,
    HelpFormatter,
    add_argument,
    add_boolean_flag,
)
from procrastinate.cli_inputs import (
    env_bool,
    load_json_args,
    parse_concurrency,
    parse_datetime_argument,
    parse_interval,
    parse_priority,
    parse_queues,
    parse_seconds,
    parse_timeout,
)
from procrastinate.cli_parser import (
    PROGRAM_NAME,
    ArgumentParser,
    add_defer_command,
    add_global_arguments,
    add_worker_command,
    create_parser,
    version,
    worker_default,
)

__all__ = [
    "COMMANDS_WITHOUT_DATABASE",
    "ENV_PREFIX",
    "PROGRAM_NAME",
    "ArgumentParser",
    "HelpFormatter",
    "MissingAppConnector",
    "add_argument",
    "add_boolean_flag",
    "add_defer_command",
    "add_global_arguments",
    "add_healthchecks_command",
    "add_queue_command",
    "add_schema_command",
    "add_shell_command",
    "add_worker_command",
    "cli",
    "configure_logging",
    "create_parser",
    "current_directory_first",
    "defer",
    "env_bool",
    "error_line",
    "execute",
    "healthchecks",
    "load_app",
    "load_json_args",
    "main",
    "parse_concurrency",
    "parse_datetime_argument",
    "parse_interval",
    "parse_priority",
    "parse_queues",
    "parse_seconds",
    "parse_timeout",
    "run_worker",
    "schema",
    "shell_command",
    "terminate",
    "version",
    "worker_default",
]

logger = logging.getLogger(__name__)


def configure_logging(verbosity: int, format: str, style: str) -> None:
    """Log to stderr: INFO by default, DEBUG with -v."""
    level = logging.DEBUG if verbosity >= 1 else logging.INFO
    logging.basicConfig(level=level, format=format, style=style)  # type: ignore[call-overload]
    logger.debug(
        f"Log level set to {logging.getLevelName(level)}",
        extra={"action": "set_log_level", "value": logging.getLevelName(level)},
    )


COMMANDS_WITHOUT_DATABASE = {("schema", "read"), ("schema", "migrations_path")}


async def execute(parsed: dict[str, Any]) -> None:
    """Run the parsed command with its app open."""
    func: Callable[..., Awaitable[None]] = parsed.pop("func")
    command = parsed.pop("command")
    app_path = parsed.pop("app")
    app = load_app(app_path)
    if (command, parsed.get("action")) in COMMANDS_WITHOUT_DATABASE:
        await func(app=app, **parsed)
        return
    if not app_path:
        raise exceptions.MissingApp
    async with app.open_async():
        await func(app=app, **parsed)


async def cli(args: Sequence[str]) -> None:
    """Parse ``args`` and run the command.

    :raises SystemExit: always at the end of a failed command (code 1).
    """
    parser = create_parser()
    parsed = vars(parser.parse_args(args))
    configure_logging(
        verbosity=parsed.pop("verbose"),
        format=parsed.pop("log_format"),
        style=parsed.pop("log_format_style"),
    )
    if not parsed.get("command"):
        parser.print_help()
        return
    try:
        await execute(parsed)
    except Exception as exc:
        logger.debug("Exception details:", exc_info=exc)
        print(f"{PROGRAM_NAME}: error: {error_line(exc)}", file=sys.stderr)
        raise SystemExit(1) from exc


def error_line(exc: BaseException) -> str:
    """The first non-empty message along the exception's chain, on one line."""
    for cause in utils.causes(exc):
        message = " ".join(str(cause).split())
        if message:
            return message
    return repr(exc)


def terminate(signum: int, frame: Any) -> NoReturn:
    """
    SIGTERM outside of a running worker (while the app loads, before the worker has
    registered, after it has unregistered): end the command with exit code 143,
    unwinding it like Control-C would, rather than being killed midway.
    """
    raise SystemExit(128 + signum)


def main() -> None:
    """The ``procrastinate`` console script."""
    signal.signal(signal.SIGTERM, terminate)
    try:
        asyncio.run(cli(sys.argv[1:]))
    except ValueError as exc:
        # Raised while reading PROCRASTINATE_* variables, before any command ran.
        print(f"{PROGRAM_NAME}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    except KeyboardInterrupt:
        raise SystemExit(130) from None
