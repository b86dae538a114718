"""``procrastinate shell``: inspect and manage jobs from a terminal."""

from __future__ import annotations

import cmd
import traceback
from typing import Any

from procrastinate import exceptions, jobs, manager, utils

JOB_FILTERS = ("id", "queue", "task", "status", "lock", "queueing_lock")
STATS_FILTERS = ("queue", "task", "status", "lock")
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


def parse_argument(
    arg: str, allowed: tuple[str, ...]
) -> tuple[dict[str, str], set[str]]:
    """
    Split ``key=value`` filters from bare words.

    :raises ValueError: an unknown filter.
    """
    filters: dict[str, str] = {}
    words: set[str] = set()
    for item in arg.split():
        key, sep, value = item.partition("=")
        if not sep:
            words.add(item)
            continue
        if key not in allowed:
            raise ValueError(f"Unknown filter {key!r}: use {', '.join(allowed)}")
        filters[key] = value
    return filters, words


def format_job(job: jobs.Job, details: bool = False) -> str:
    """``#<id> <task> on <queue> - [<status>]``, with the details on request."""
    line = f"#{job.id} {job.task_name} on {job.queue} - [{job.status}]"
    if not details:
        return line
    scheduled_at = job.scheduled_at.isoformat() if job.scheduled_at else None
    return (
        f"{line} (attempts={job.attempts}, priority={job.priority}, "
        f"scheduled_at={scheduled_at}, args={job.task_kwargs}, lock={job.lock})"
    )


def format_stats(row: dict[str, Any]) -> str:
    """``<name>: <n> jobs (todo: a, doing: b, ...)``."""
    counts = ", ".join(f"{status}: {row[status]}" for status in STATUSES)
    return f"{row['name']}: {row['jobs_count']} jobs ({counts})"


class ProcrastinateShell(cmd.Cmd):
    """An administration shell over a job manager (synchronous API)."""

    intro = "Welcome to the procrastinate shell.   Type help or ? to list commands.\n"
    prompt = "procrastinate> "

    def __init__(
        self,
        job_manager: manager.JobManager,
        *,
        raise_errors: bool = False,
        **kwargs: Any,
    ) -> None:
        """
        :param job_manager: what the commands query.
        :param raise_errors: let a command's error propagate (one command run from
            the command line must fail visibly), instead of printing it and going on.
        :param kwargs: passed to :class:`cmd.Cmd` (``stdin``, ``stdout``...).
        """
        super().__init__(**kwargs)
        self.job_manager = job_manager
        self.raise_errors = raise_errors

    def onecmd(self, line: str) -> bool:
        if self.raise_errors:
            return super().onecmd(line)
        # One failing command must not end an interactive session.
        try:
            return super().onecmd(line)
        except (exceptions.ProcrastinateException, ValueError) as exc:
            self._print(f"Error: {exc}")
        except Exception:
            traceback.print_exc()
        return False

    def _print(self, line: str) -> None:
        print(line, file=self.stdout)

    def default(self, line: str) -> None:
        """An unknown command is an error."""
        raise ValueError(
            f"Unknown command {line.split()[0]!r}: type help to list the commands"
        )

    def emptyline(self) -> bool:
        return False

    def do_EOF(self, _: str) -> bool:
        """Exit the shell (Ctrl-D)."""
        return True

    def do_exit(self, _: str) -> bool:
        """Exit the shell."""
        return True

    def do_list_jobs(self, arg: str) -> None:
        """
        List jobs: list_jobs [id=ID] [queue=QUEUE] [task=TASK] [status=STATUS]
        [lock=LOCK] [queueing_lock=QLOCK] [details]
        """
        filters, words = parse_argument(arg, JOB_FILTERS)
        job_id = filters.get("id")
        found = self.job_manager.list_jobs(
            id=int(job_id) if job_id else None,
            queue=filters.get("queue"),
            task=filters.get("task"),
            status=filters.get("status"),
            lock=filters.get("lock"),
            queueing_lock=filters.get("queueing_lock"),
        )
        for job in found:
            self._print(format_job(job, details="details" in words))

    def do_list_queues(self, arg: str) -> None:
        """
        List queues with their number of jobs per status:
        list_queues [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        filters, _ = parse_argument(arg, STATS_FILTERS)
        for row in self.job_manager.list_queues(**filters):
            self._print(format_stats(row))

    def do_list_tasks(self, arg: str) -> None:
        """
        List tasks with their number of jobs per status:
        list_tasks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        filters, _ = parse_argument(arg, STATS_FILTERS)
        for row in self.job_manager.list_tasks(**filters):
            self._print(format_stats(row))

    def do_list_locks(self, arg: str) -> None:
        """
        List locks with their number of jobs per status:
        list_locks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        filters, _ = parse_argument(arg, STATS_FILTERS)
        for row in self.job_manager.list_locks(**filters):
            self._print(format_stats(row))

    def do_retry(self, arg: str) -> None:
        """
        Retry a failed or running job now: retry JOB_ID
        """
        job_id = int(arg)
        self.job_manager.retry_job_by_id(
            job_id, retry_at=utils.utcnow().replace(microsecond=0)
        )
        (job,) = self.job_manager.list_jobs(id=job_id)
        self._print(format_job(job))

    def do_cancel(self, arg: str) -> None:
        """
        Cancel a waiting job: cancel JOB_ID
        """
        job_id = int(arg)
        if not self.job_manager.cancel_job_by_id(job_id):
            self._print(
                f"Job {job_id} could not be cancelled: it is not waiting (todo)"
            )
        (job,) = self.job_manager.list_jobs(id=job_id)
        self._print(format_job(job))
