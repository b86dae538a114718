"""The parser of the ``procrastinate`` command line: its global options and the
subcommands that run jobs (``worker``, ``defer``); those that administer the database
are in :mod:`~procrastinate.cli_admin_parser`, the building blocks (options read from
``PROCRASTINATE_*`` variables) in :mod:`~procrastinate.cli_flags`. Each subcommand
names the function of :mod:`~procrastinate.cli_commands` that runs it."""

from __future__ import annotations

import argparse
import inspect
import logging
import os
from typing import Any, NoReturn

import procrastinate
from procrastinate import (
    cli_commands,
    cli_inputs,
    jobs,
    monitoring_commands,
    utils,
    worker,
)
from procrastinate.cli_admin_parser import (
    add_healthchecks_command,
    add_metrics_command,
    add_queue_command,
    add_schema_command,
    add_shell_command,
    add_web_command,
)
from procrastinate.cli_flags import (
    ENV_PREFIX,
    HelpFormatter,
    add_argument,
    add_boolean_flag,
)
from procrastinate.sql import facts

PROGRAM_NAME = "procrastinate"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 1, like any error."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def worker_default(name: str) -> str:
    """``(default: X)`` for a worker option, from the Worker class itself, so that the
    help cannot drift from the code; the app's ``worker_defaults`` come first."""
    default = inspect.signature(worker.Worker.__init__).parameters[name].default
    return f"(default: {default}, unless the app's worker_defaults say otherwise)"


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
    add_queue_command(subparsers)
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
    parser.set_defaults(func=cli_commands.run_worker)
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
        type=cli_inputs.parse_queues,
        help="Comma-separated names of the queues to take jobs from (all when empty)",
        envvar="WORKER_QUEUES",
    )
    add_argument(
        parser,
        "-c",
        "--concurrency",
        type=cli_inputs.parse_concurrency,
        help=f"Number of jobs to run at the same time {worker_default('concurrency')}",
        envvar="WORKER_CONCURRENCY",
    )
    add_argument(
        parser,
        "-p",
        "--fetch-job-polling-interval",
        type=cli_inputs.parse_interval,
        help="Seconds between two fetches of new jobs when no notification comes "
        + worker_default("fetch_job_polling_interval"),
        envvar="WORKER_FETCH_JOB_POLLING_INTERVAL",
    )
    add_argument(
        parser,
        "-a",
        "--abort-job-polling-interval",
        type=cli_inputs.parse_interval,
        help="Seconds between two checks for abort requests "
        + worker_default("abort_job_polling_interval"),
        envvar="WORKER_ABORT_JOB_POLLING_INTERVAL",
    )
    add_argument(
        parser,
        "--shutdown-graceful-timeout",
        type=cli_inputs.parse_timeout,
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
        type=cli_inputs.parse_interval,
        help="Seconds between two heartbeats of the worker "
        + worker_default("update_heartbeat_interval"),
        envvar="WORKER_UPDATE_HEARTBEAT_INTERVAL",
    )
    add_argument(
        parser,
        "--stalled-worker-timeout",
        type=cli_inputs.parse_interval,
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
        "--outcome-batch-size",
        type=cli_inputs.parse_outcome_batch_size,
        help="Most job outcomes stored in one statement "
        + worker_default("outcome_batch_size"),
        envvar="WORKER_OUTCOME_BATCH_SIZE",
    )
    add_argument(
        parser,
        "--outcome-batch-delay",
        type=cli_inputs.parse_timeout,
        help="Seconds a job's outcome may wait for others before it is stored "
        + worker_default("outcome_batch_delay"),
        envvar="WORKER_OUTCOME_BATCH_DELAY",
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
        type=monitoring_commands.parse_port,
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
    parser.set_defaults(func=cli_commands.defer)
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
        "--lock-mode",
        choices=facts.LOCK_MODES,
        help="How the lock orders the job with the other jobs of its lock",
        envvar="DEFER_LOCK_MODE",
    )
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
        type=cli_inputs.parse_datetime_argument,
        help="When to run the job: an ISO 8601 date and time, e.g. "
        f"{utils.DATETIME_EXAMPLE} (UTC when no offset)",
        envvar="DEFER_AT",
    )
    add_argument(
        schedule,
        "--in",
        dest="schedule_in",
        type=cli_inputs.parse_seconds,
        help="Delay before running the job, in seconds",
        envvar="DEFER_IN",
    )
    add_argument(
        parser,
        "--priority",
        type=cli_inputs.parse_priority,
        help="Priority of the job (higher runs first)",
        envvar="DEFER_PRIORITY",
    )
    add_argument(
        parser,
        "--timeout",
        type=cli_inputs.parse_interval,
        help="Time limit of the job's run, in seconds, in place of its task's",
        envvar="DEFER_TIMEOUT",
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
