"""``procrastinate shell``: inspect and manage jobs from a terminal."""

from __future__ import annotations

import cmd
import json
import shlex
import traceback
from typing import Any

from procrastinate import exceptions, jobs, manager, queue_operations, results, utils

JOB_FILTERS = ("id", "queue", "task", "status", "lock", "queueing_lock")
STATS_FILTERS = ("queue", "task", "status", "lock")
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


# Job ids are PostgreSQL bigints.
MAX_JOB_ID = 2**63 - 1


def parse_argument(
    arg: str, allowed: tuple[str, ...]
) -> tuple[dict[str, str], set[str]]:
    """
    Split ``key=value`` filters from bare words; quote a value that holds spaces or
    quotes, as in a POSIX shell (``task="my task"``).

    :raises ValueError: an unknown filter, an unknown status, or unbalanced quotes.
    """
    try:
        items = shlex.split(arg)
    except ValueError as exc:
        raise ValueError(
            f"Cannot read {arg!r}: {exc}; quote a value with spaces or quotes, e.g. "
            "task='my task'"
        ) from None
    filters: dict[str, str] = {}
    words: set[str] = set()
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            words.add(item)
            continue
        if key not in allowed:
            raise ValueError(f"Unknown filter {key!r}: use {', '.join(allowed)}")
        filters[key] = value
    status = filters.get("status")
    if status is not None and status not in STATUSES:
        raise ValueError(f"Unknown status {status!r}: use {', '.join(STATUSES)}")
    return filters, words


def pause_text(queue: str, pause: bool, changed: bool) -> str:
    """What pausing (or resuming) a queue did, in words: ``Queue 'q' paused``, or
    that it was so already."""
    if pause:
        return f"Queue {queue!r} {'paused' if changed else 'was paused already'}"
    return f"Queue {queue!r} {'resumed' if changed else 'was not paused'}"


def parse_limits(arg: str) -> tuple[str, dict[str, Any]]:
    """
    The queue and the limits of ``limit QUEUE max_running=N max_starts=N per=S``.

    :raises ValueError: no queue or several, an unknown key, or a value that is not a
        number.
    """
    filters, words = parse_argument(arg, ("max_running", "max_starts", "per"))
    if len(words) != 1:
        raise ValueError(
            "Name one queue: limit QUEUE max_running=N max_starts=N per=SECONDS"
        )
    limits: dict[str, Any] = {}
    for key, raw in filters.items():
        try:
            limits[key] = float(raw) if key == "per" else int(raw)
        except ValueError:
            raise ValueError(f"{key} must be a number, not {raw!r}") from None
    return words.pop(), limits


def parse_job_id(raw: str) -> int:
    """
    A job id typed by the user.

    :raises ValueError: not a whole number from 1 to the largest bigint.
    """
    text = raw.strip()
    if not text.isdecimal() or not text.isascii():
        raise ValueError(f"{raw!r} is not a job id: give a number, e.g. 42")
    job_id = int(text)
    if not 1 <= job_id <= MAX_JOB_ID:
        raise ValueError(f"{text} is not a job id: ids go from 1 to {MAX_JOB_ID}")
    return job_id


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


def result_lines(found: results.JobResult) -> list[str]:
    """
    What ``result JOB_ID`` prints: ``#<id> [<status>]`` and the times, then the value
    (``Result: <JSON>``), why it was not stored, or nothing for ``None``, then the
    error of the last failed attempt with its traceback.
    """
    times = ", ".join(
        f"{name}={moment.isoformat(timespec='seconds') if moment else None}"
        for name, moment in (
            ("deferred_at", found.deferred_at),
            ("started_at", found.started_at),
            ("finished_at", found.finished_at),
        )
    )
    lines = [
        f"#{found.job_id} [{found.status.value}] (attempts={found.attempts}, {times})"
    ]
    if found.refused is not None:
        lines.append(f"Result not stored: {found.refused}")
    elif found.value is not None:
        lines.append(f"Result: {json.dumps(found.value, sort_keys=True)}")
    if found.error is not None:
        lines.append(f"Error: {found.error.type}: {found.error.message}")
        lines.extend(found.error.traceback.rstrip("\n").splitlines())
    return lines


def format_stats(row: dict[str, Any]) -> str:
    """``<name>: <n> jobs (todo: a, doing: b, ...)``."""
    counts = ", ".join(f"{status}: {row[status]}" for status in STATUSES)
    return f"{row['name']}: {row['jobs_count']} jobs ({counts})"


def queue_lines(
    stats: list[dict[str, Any]], states: list[jobs.QueueState]
) -> list[str]:
    """
    One line per queue that holds jobs or was ever paused, by name:
    ``<name>: paused since <time>, <n> jobs (todo: a, ...)`` or ``<name>: active, ...``.

    :param stats: what ``list_queues`` returns.
    :param states: what ``list_queue_states`` returns.
    """
    by_name = {state.name: state for state in states}
    counted = {row["name"]: row for row in stats}
    lines = []
    for name in sorted(by_name.keys() | counted.keys()):
        state = by_name.get(name)
        if state is not None and state.paused and state.paused_at is not None:
            status = f"paused since {state.paused_at.isoformat(timespec='seconds')}"
        else:
            status = "active"
        row = counted.get(
            name, {"name": name, "jobs_count": 0, **dict.fromkeys(STATUSES, 0)}
        )
        lines.append(f"{name}: {status}, {format_stats(row).split(': ', 1)[1]}")
    return lines


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
            id=parse_job_id(job_id) if job_id is not None else None,
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
        self._list_stats("queues", arg)

    def do_list_tasks(self, arg: str) -> None:
        """
        List tasks with their number of jobs per status:
        list_tasks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        self._list_stats("tasks", arg)

    def do_list_locks(self, arg: str) -> None:
        """
        List locks with their number of jobs per status:
        list_locks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        self._list_stats("locks", arg)

    def _list_stats(self, kind: str, arg: str) -> None:
        filters, _ = parse_argument(arg, STATS_FILTERS)
        for row in self.job_manager.list_stats(kind, **filters):
            self._print(format_stats(row))

    def do_queues(self, _: str) -> None:
        """
        List the queues, paused or active, with their jobs: queues
        """
        stats = self.job_manager.list_queues()
        states = self.job_manager.list_queue_states()
        for line in queue_lines(stats, states):
            self._print(line)

    def do_pause(self, arg: str) -> None:
        """
        Stop every worker from taking the jobs of a queue, until resumed: pause QUEUE
        """
        queue = arg.strip()
        self._print(pause_text(queue, True, self.job_manager.pause_queue(queue)))

    def do_resume(self, arg: str) -> None:
        """
        Let workers take the jobs of a paused queue again: resume QUEUE
        """
        queue = arg.strip()
        self._print(pause_text(queue, False, self.job_manager.resume_queue(queue)))

    def do_limit(self, arg: str) -> None:
        """
        Limit a queue for every worker together, replacing its limits:
        limit QUEUE max_running=N max_starts=N per=SECONDS
        """
        queue, limits = parse_limits(arg)
        self.job_manager.set_queue_limit(queue, **limits)
        text = queue_operations.limit_text(
            limits.get("max_running"), limits.get("max_starts"), limits.get("per")
        )
        self._print(f"Limited queue {queue!r}: {text}")

    def do_unlimit(self, arg: str) -> None:
        """
        Remove the limits of a queue: unlimit QUEUE
        """
        queue = arg.strip()
        if self.job_manager.clear_queue_limit(queue):
            self._print(f"Queue {queue!r} has no limits any more")
        else:
            self._print(f"Queue {queue!r} had no limits")

    def do_limits(self, _: str) -> None:
        """
        List the limited queues, and how many of their jobs run: limits
        """
        for item in self.job_manager.list_queue_limits():
            text = queue_operations.limit_text(
                item.max_running, item.max_starts, item.per_seconds
            )
            self._print(f"{item.queue}: {text}; {item.running} running")

    def do_result(self, arg: str) -> None:
        """
        Show what a finished job's task returned, or the error of its last failed
        attempt: result JOB_ID
        """
        job_id = parse_job_id(arg)
        for line in result_lines(self.job_manager.get_job_result(job_id)):
            self._print(line)

    def do_retry(self, arg: str) -> None:
        """
        Retry a failed or running job now: retry JOB_ID
        """
        job_id = parse_job_id(arg)
        self._get_job(job_id)
        self.job_manager.retry_job_by_id(
            job_id, retry_at=utils.utcnow().replace(microsecond=0)
        )
        self._print(format_job(self._get_job(job_id)))

    def do_cancel(self, arg: str) -> None:
        """
        Cancel a waiting job: cancel JOB_ID
        """
        job_id = parse_job_id(arg)
        self._get_job(job_id)
        if not self.job_manager.cancel_job_by_id(job_id):
            self._print(
                f"Job {job_id} could not be cancelled: it is not waiting (todo)"
            )
        self._print(format_job(self._get_job(job_id)))

    def _get_job(self, job_id: int) -> jobs.Job:
        found = self.job_manager.list_jobs(id=job_id)
        if not found:
            raise ValueError(f"There is no job {job_id}: see list_jobs")
        return found[0]
