"""The ``procrastinate`` command line."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import procrastinate
from procrastinate import (
    connector,
    exceptions,
    jobs,
    ops_commands,
    shell,
    tasks,
    types,
    utils,
    worker,
)
from procrastinate import schema as schema_module

logger = logging.getLogger(__name__)

PROGRAM_NAME = "procrastinate"
ENV_PREFIX = "PROCRASTINATE"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 1, like any error."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where it tells something: not for flags, nor for
    options whose default is "not given"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        meaningless = action.default in (None, "", True, False, argparse.SUPPRESS)
        if meaningless or isinstance(action, argparse._StoreConstAction):
            return help_text
        return super()._get_help_string(action) or help_text


def worker_default(name: str) -> str:
    """``(default: X)`` for a worker option, from the Worker class itself, so that the
    help cannot drift from the code; the app's ``worker_defaults`` come first."""
    default = inspect.signature(worker.Worker.__init__).parameters[name].default
    return f"(default: {default}, unless the app's worker_defaults say otherwise)"


def env_bool(value: str) -> bool:
    """Read a boolean from an environment variable: 1/y/t/on or 0/n/f/off."""
    lowered = value.strip().lower()
    if lowered in ("1", "y", "yes", "t", "true", "on"):
        return True
    if lowered in ("0", "n", "no", "f", "false", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (use 1 or 0, true or false)")


def add_argument(
    parser: argparse._ActionsContainer,
    *args: str,
    envvar: str | None = None,
    envvar_type: Callable[[str], Any] | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """
    ``parser.add_argument`` whose default may come from the environment variable
    ``PROCRASTINATE_<envvar>`` (an empty value counts as unset).

    :raises ValueError: the variable's value cannot be read.
    """
    if envvar is None:
        return parser.add_argument(*args, **kwargs)
    name = f"{ENV_PREFIX}_{envvar}"
    kwargs["help"] = f"{kwargs.get('help', '')} (env: {name})".strip()
    raw = os.environ.get(name)
    if raw:
        cast = envvar_type or kwargs.get("type") or str
        try:
            kwargs["default"] = cast(raw)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"Invalid value for {name}: {exc}") from exc
    return parser.add_argument(*args, **kwargs)


def add_boolean_flag(
    parser: argparse._ActionsContainer,
    *,
    dest: str,
    true_flags: Sequence[str],
    false_flags: Sequence[str],
    true_help: str,
    false_help: str,
    envvar: str,
    default: bool | None = None,
) -> None:
    """A pair of flags setting ``dest`` to True or False, with an env variable."""
    group = parser.add_mutually_exclusive_group()
    add_argument(
        group,
        *true_flags,
        dest=dest,
        action="store_true",
        help=true_help,
        envvar=envvar,
        envvar_type=env_bool,
        **({"default": default} if default is not None else {}),
    )
    group.add_argument(*false_flags, dest=dest, action="store_false", help=false_help)


def version() -> str:
    """``procrastinate, version X``, as printed by ``--version``."""
    return f"{PROGRAM_NAME}, version {procrastinate.__version__}"


def create_parser() -> ArgumentParser:
    """The parser of the whole command line."""
    parser = ArgumentParser(
        prog=PROGRAM_NAME,
        description="Interact with a Procrastinate app. See subcommands for details.",
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    add_global_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_worker_command(subparsers)
    add_defer_command(subparsers)
    add_schema_command(subparsers)
    add_healthchecks_command(subparsers)
    add_shell_command(subparsers)
    add_metrics_command(subparsers)
    add_web_command(subparsers)
    return parser


def add_global_arguments(
    parser: argparse.ArgumentParser, *, include_app: bool = True
) -> None:
    """``--app`` (unless ``include_app`` is false), logging options and
    ``--version``."""
    if include_app:
        add_argument(
            parser,
            "-a",
            "--app",
            default="",
            help="Dotted path to the Procrastinate app, e.g. mymodule.app",
            envvar="APP",
        )
    add_argument(
        parser,
        "-v",
        "--verbose",
        default=0,
        action="count",
        help="Log more: -v for debug messages",
        envvar="VERBOSE",
        envvar_type=int,
    )
    add_argument(
        parser,
        "--log-format",
        default=logging.BASIC_FORMAT,
        help="Format of log lines (see the logging module of Python)",
        envvar="LOG_FORMAT",
    )
    add_argument(
        parser,
        "--log-format-style",
        default="%",
        choices=["%", "{", "$"],
        help="Style of --log-format",
        envvar="LOG_FORMAT_STYLE",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=version(), help="Print the version"
    )


def add_worker_command(subparsers: Any) -> None:
    """``procrastinate worker``."""
    parser = subparsers.add_parser(
        "worker",
        help="Start a worker",
        description="Start a worker that runs the jobs of the app's tasks",
        argument_default=argparse.SUPPRESS,
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=run_worker)
    add_argument(
        parser,
        "-n",
        "--name",
        help=f"Name of the worker {worker_default('name')}",
        envvar="WORKER_NAME",
    )
    add_argument(
        parser,
        "-q",
        "--queues",
        type=parse_queues,
        help="Comma-separated names of the queues to take jobs from (all when empty)",
        envvar="WORKER_QUEUES",
    )
    add_argument(
        parser,
        "-c",
        "--concurrency",
        type=parse_concurrency,
        help=f"Number of jobs to run at the same time {worker_default('concurrency')}",
        envvar="WORKER_CONCURRENCY",
    )
    add_argument(
        parser,
        "-p",
        "--fetch-job-polling-interval",
        type=parse_interval,
        help="Seconds between two fetches of new jobs when no notification comes "
        + worker_default("fetch_job_polling_interval"),
        envvar="WORKER_FETCH_JOB_POLLING_INTERVAL",
    )
    add_argument(
        parser,
        "-a",
        "--abort-job-polling-interval",
        type=parse_interval,
        help="Seconds between two checks for abort requests "
        + worker_default("abort_job_polling_interval"),
        envvar="WORKER_ABORT_JOB_POLLING_INTERVAL",
    )
    add_argument(
        parser,
        "--shutdown-graceful-timeout",
        type=parse_timeout,
        help="On stop, seconds to let running jobs finish before aborting them "
        "(wait as long as needed when unset)",
        envvar="WORKER_SHUTDOWN_GRACEFUL_TIMEOUT",
    )
    add_boolean_flag(
        parser,
        dest="wait",
        true_flags=["-w", "--wait"],
        false_flags=["--one-shot"],
        true_help="Wait for new jobs when the queues are empty",
        false_help="Stop once the queues are empty",
        envvar="WORKER_WAIT",
    )
    add_boolean_flag(
        parser,
        dest="listen_notify",
        true_flags=["-l", "--listen-notify"],
        false_flags=["--no-listen-notify"],
        true_help="Wake up on PostgreSQL notifications when jobs are deferred",
        false_help="Only poll for new jobs",
        envvar="WORKER_LISTEN_NOTIFY",
    )
    add_argument(
        parser,
        "--update-heartbeat-interval",
        type=parse_interval,
        help="Seconds between two heartbeats of the worker "
        + worker_default("update_heartbeat_interval"),
        envvar="WORKER_UPDATE_HEARTBEAT_INTERVAL",
    )
    add_argument(
        parser,
        "--stalled-worker-timeout",
        type=parse_interval,
        help="Seconds without a heartbeat after which a worker counts as dead "
        + worker_default("stalled_worker_timeout"),
        envvar="WORKER_STALLED_WORKER_TIMEOUT",
    )
    add_boolean_flag(
        parser,
        dest="recover_stalled_jobs",
        true_flags=["--recover-stalled-jobs"],
        false_flags=["--no-recover-stalled-jobs"],
        true_help="Retry (through their task's retry strategy) or fail the jobs of "
        "dead workers",
        false_help="Leave the jobs of dead workers alone",
        envvar="WORKER_RECOVER_STALLED_JOBS",
    )
    add_argument(
        parser,
        "--delete-jobs",
        choices=[condition.value for condition in jobs.DeleteJobCondition],
        help="Which finished jobs to delete from the database (default: never, unless "
        "the app's worker_defaults say otherwise)",
        envvar="WORKER_DELETE_JOBS",
    )
    add_argument(
        parser,
        "--metrics-port",
        type=ops_commands.parse_port,
        help="Serve Prometheus metrics on this port (needs procrastinate[metrics])",
        envvar="WORKER_METRICS_PORT",
    )
    add_argument(
        parser,
        "--metrics-host",
        help="Address the metrics are served on (default: 0.0.0.0, all interfaces)",
        envvar="WORKER_METRICS_HOST",
    )


def add_defer_command(subparsers: Any) -> None:
    """``procrastinate defer``."""
    parser = subparsers.add_parser(
        "defer",
        help="Create a job",
        description="Create a job of a task, with JSON arguments",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=defer)
    add_argument(
        parser,
        "task",
        help="Name of the task (or its dotted path, e.g. mymodule.mytask)",
        envvar="DEFER_TASK",
        nargs="?" if os.environ.get(f"{ENV_PREFIX}_DEFER_TASK") else None,
    )
    add_argument(
        parser,
        "json_args",
        nargs="?",
        help="Arguments of the task as a JSON object, e.g. '{\"a\": 1}'",
        envvar="DEFER_JSON_ARGS",
    )
    add_argument(parser, "--queue", help="Queue of the job", envvar="DEFER_QUEUE")
    add_argument(parser, "--lock", help="Lock of the job", envvar="DEFER_LOCK")
    add_argument(
        parser,
        "--queueing-lock",
        help="Queueing lock of the job",
        envvar="DEFER_QUEUEING_LOCK",
    )
    add_boolean_flag(
        parser,
        dest="ignore_already_enqueued",
        true_flags=["-i", "--ignore-already-enqueued"],
        false_flags=["--no-ignore-already-enqueued"],
        true_help="Exit successfully when a job with the same queueing lock waits already",
        false_help="Fail when a job with the same queueing lock waits already",
        envvar="DEFER_IGNORE_ALREADY_ENQUEUED",
        default=False,
    )
    schedule = parser.add_mutually_exclusive_group()
    add_argument(
        schedule,
        "--at",
        dest="schedule_at",
        type=parse_datetime_argument,
        help="When to run the job: an ISO 8601 date and time, e.g. "
        f"{utils.DATETIME_EXAMPLE} (UTC when no offset)",
        envvar="DEFER_AT",
    )
    add_argument(
        schedule,
        "--in",
        dest="schedule_in",
        type=parse_seconds,
        help="Delay before running the job, in seconds",
        envvar="DEFER_IN",
    )
    add_argument(
        parser,
        "--priority",
        type=parse_priority,
        help="Priority of the job (higher runs first)",
        envvar="DEFER_PRIORITY",
    )
    add_boolean_flag(
        parser,
        dest="unknown",
        true_flags=["--unknown"],
        false_flags=["--no-unknown"],
        true_help="Allow a task that is not registered in the app",
        false_help="Refuse a task that is not registered in the app",
        envvar="DEFER_UNKNOWN",
        default=False,
    )


def add_schema_command(subparsers: Any) -> None:
    """``procrastinate schema``."""
    parser = subparsers.add_parser(
        "schema",
        help="Create the database schema, or show it",
        description="Apply the Procrastinate schema to a new database, or print it",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=schema, action="apply")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--apply",
        action="store_const",
        const="apply",
        dest="action",
        help="Apply the schema to the database (the default)",
    )
    group.add_argument(
        "--read",
        action="store_const",
        const="read",
        dest="action",
        help="Print the schema SQL",
    )
    group.add_argument(
        "--migrations-path",
        action="store_const",
        const="migrations_path",
        dest="action",
        help="Print the path of the SQL migration scripts",
    )


def add_healthchecks_command(subparsers: Any) -> None:
    """``procrastinate healthchecks``."""
    parser = subparsers.add_parser(
        "healthchecks",
        help="Check the app and the database",
        description="Check the app configuration and the database connection and schema",
    )
    parser.set_defaults(func=healthchecks)


def add_shell_command(subparsers: Any) -> None:
    """``procrastinate shell``."""
    parser = subparsers.add_parser(
        "shell",
        help="Administration shell for Procrastinate",
        description="Inspect and manage jobs: interactive, or one command given as "
        "arguments",
    )
    parser.set_defaults(func=shell_command)
    parser.add_argument(
        "shell_command",
        nargs="*",
        help="A shell command to run instead of starting the interactive shell",
    )


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
    parser.set_defaults(func=ops_commands.serve_metrics)
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
    parser.set_defaults(func=ops_commands.serve_web)
    add_server_arguments(parser, "the dashboard", "WEB", port=8080, host="127.0.0.1")


def add_server_arguments(
    parser: argparse.ArgumentParser, what: str, envvar: str, *, port: int, host: str
) -> None:
    """``--port`` and ``--host`` of a command that serves ``what`` over HTTP, also
    read from ``PROCRASTINATE_<envvar>_PORT`` and ``..._HOST``."""
    add_argument(
        parser,
        "--port",
        type=ops_commands.parse_port,
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


def parse_queues(raw: str) -> list[str] | None:
    """Comma-separated queue names; empty means all queues."""
    queues = [queue.strip() for queue in raw.split(",") if queue.strip()]
    return queues or None


def parse_concurrency(raw: str) -> int:
    """A number of jobs at once, for ``--concurrency``."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= worker.MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {worker.MAX_CONCURRENCY}, got {raw!r}"
        )
    return value


def parse_interval(raw: str) -> float:
    """A positive number of seconds, for the worker's intervals and timeouts."""
    return _parse_float_seconds(raw, zero=False)


def parse_timeout(raw: str) -> float:
    """A number of seconds, zero included, for ``--shutdown-graceful-timeout``."""
    return _parse_float_seconds(raw, zero=True)


def _parse_float_seconds(raw: str, *, zero: bool) -> float:
    try:
        worker.check_seconds("value", float(raw), zero=zero)
    except ValueError:
        kind = (
            "a number of seconds, 0 or more" if zero else "a number of seconds above 0"
        )
        raise argparse.ArgumentTypeError(f"expected {kind}, got {raw!r}") from None
    return float(raw)


def parse_seconds(raw: str) -> types.TimeDeltaParams:
    """A number of seconds, for ``--in``, that leads to a time in range."""
    try:
        seconds = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a whole number of seconds: e.g. --in 3600"
        ) from None
    try:
        utils.schedule_from_delay({"seconds": seconds})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{seconds} seconds from now is out of range: schedule "
            f"{utils.SCHEDULE_RANGE}, e.g. --in 3600"
        ) from None
    return {"seconds": seconds}


def parse_datetime_argument(raw: str) -> Any:
    """An ISO 8601 date and time, for ``--at``."""
    try:
        return utils.parse_datetime(raw, "--at")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_priority(raw: str) -> int:
    """A priority, for ``--priority``: an int that PostgreSQL's ``integer`` holds."""
    try:
        priority = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a whole number: e.g. --priority 7"
        ) from None
    try:
        tasks.check_priority(priority, "--priority")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return priority


def load_json_args(raw: str | None, json_loads: Callable[[str], Any]) -> types.JSONDict:
    """
    The task arguments given on the command line.

    :raises ValueError: not JSON, or not a JSON object.
    """
    if not raw:
        return {}
    try:
        args = json_loads(raw)
    except ValueError as exc:
        raise ValueError(
            f"Incorrect JSON_ARGS value {raw!r}: not valid JSON ({exc}). "
            "Expected an object such as '{\"a\": 1}'."
        ) from exc
    if not isinstance(args, dict):
        raise ValueError(
            f"Incorrect JSON_ARGS value {raw!r}: expected a JSON object such as "
            "'{\"a\": 1}', got " + type(args).__name__
        )
    return args


def configure_logging(verbosity: int, format: str, style: str) -> None:
    """Log to stderr: INFO by default, DEBUG with -v."""
    level = logging.DEBUG if verbosity >= 1 else logging.INFO
    logging.basicConfig(level=level, format=format, style=style)  # type: ignore[call-overload]
    logger.debug(
        f"Log level set to {logging.getLevelName(level)}",
        extra={"action": "set_log_level", "value": logging.getLevelName(level)},
    )


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

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        raise exceptions.MissingApp

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        raise exceptions.MissingApp

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        raise exceptions.MissingApp


# Commands


async def run_worker(app: procrastinate.App, **kwargs: Any) -> None:
    """Run a worker until stopped."""
    queues = kwargs.get("queues")
    ops_commands.check_worker_options(kwargs)
    print(f"Launching a worker on {utils.queues_display(queues)}", file=sys.stderr)
    await ops_commands.run_worker(app, **kwargs)


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
