"""What the job manager does with queues: the counts of their jobs (by queue, task or
lock), their limits, shared by every worker, and their state (paused or active).

Each pair of methods (sync and async) is one call builder over an operation of
:mod:`procrastinate.queue_operations` (or :mod:`procrastinate.operations`), made into
both by :func:`~procrastinate.runner.twin_methods`;
:class:`~procrastinate.manager.JobManager` inherits them all.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

from procrastinate import jobs, operations, queue_operations, runner

Stats = list[dict[str, Any]]


class QueueManager(runner.OperationRunner):
    """The job manager's operations on queues (see
    :class:`~procrastinate.manager.JobManager`)."""

    def _list_stats(
        self,
        kind: str,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> runner.Call[Stats]:
        """
        Per queue, task or lock (``kind``: ``queues``, ``tasks`` or ``locks``): its
        name, its number of jobs, and the number in each status. The jobs without a
        lock are left out of ``locks``. ``list_queues_async``, ``list_tasks_async``
        and ``list_locks_async`` (and their sync versions) are this method for one
        kind, with the other parameters.

        :param kind: what to count the jobs by.
        :param queue: only the jobs of this queue.
        :param task: only the jobs of this task.
        :param status: only the jobs in this status.
        :param lock: only the jobs with this lock.
        :raises KeyError: an unknown ``kind``.
        """
        filters = operations.list_filters(queue, task, status, lock)
        return operations.list_stats(kind, filters)

    list_stats_async, list_stats = runner.twin_methods(_list_stats)

    # The 3.x signatures: ``(queue=None, task=None, status=None, lock=None)``.
    list_queues_async = functools.partialmethod(list_stats_async, "queues")
    list_queues = functools.partialmethod(list_stats, "queues")
    list_tasks_async = functools.partialmethod(list_stats_async, "tasks")
    list_tasks = functools.partialmethod(list_stats, "tasks")
    list_locks_async = functools.partialmethod(list_stats_async, "locks")
    list_locks = functools.partialmethod(list_stats, "locks")

    # Queue limits

    def _set_queue_limit(
        self,
        queue: str,
        *,
        max_running: int | None = None,
        max_starts: int | None = None,
        per: float | datetime.timedelta | None = None,
    ) -> runner.Call[None]:
        """
        Limit a queue for every worker together, replacing its limits if it had
        some: at most ``max_running`` of its jobs run at once, at most
        ``max_starts`` of them start in any period of ``per`` (seconds or a
        :class:`~datetime.timedelta`). Workers see it at their next fetch.

        :param queue: the queue's name.
        :param max_running: how many of its jobs may run at once (1 or more).
        :param max_starts: how many may start per period (1 to 1000).
        :param per: the period of ``max_starts``.
        :raises TypeError: a value of the wrong type.
        :raises ValueError: no limit, ``max_starts`` without ``per`` (or the
            reverse), or a value out of range.
        """
        return queue_operations.set_queue_limit(queue, max_running, max_starts, per)

    set_queue_limit_async, set_queue_limit = runner.twin_methods(_set_queue_limit)

    def _clear_queue_limit(self, queue: str) -> runner.Call[bool]:
        """
        Remove the limits of a queue.

        :param queue: the queue's name.
        :returns: whether it had limits.
        """
        return queue_operations.clear_queue_limit(queue)

    clear_queue_limit_async, clear_queue_limit = runner.twin_methods(_clear_queue_limit)

    def _list_queue_limits(self) -> runner.Call[list[queue_operations.QueueLimit]]:
        """The limited queues, by name, with how many of their jobs run now."""
        return queue_operations.list_queue_limits()

    list_queue_limits_async, list_queue_limits = runner.twin_methods(_list_queue_limits)

    # Queue states

    def _pause_queue(self, queue: str) -> runner.Call[bool]:
        """
        Pause a queue: from the next fetch of each worker on, no job of the queue
        starts; the running ones finish, and jobs can still be deferred into it. The
        pause lasts, across restarts, until :meth:`resume_queue_async`. Workers of
        procrastinate 3.10 ignore it.

        :param queue: the queue's name; it need not hold any job yet.
        :returns: whether the queue was active (``False``: it was paused already).
        :raises InvalidQueueName: no job can have that queue name.
        """
        return queue_operations.set_queue_paused(queue, True)

    pause_queue_async, pause_queue = runner.twin_methods(_pause_queue)

    def _resume_queue(self, queue: str) -> runner.Call[bool]:
        """
        Resume a paused queue: its workers are notified, and fetch its waiting jobs
        at once (those that do not listen, at their next poll).

        :param queue: the queue's name.
        :returns: whether the queue was paused (``False``: it was active already).
        :raises InvalidQueueName: no job can have that queue name.
        """
        return queue_operations.set_queue_paused(queue, False)

    resume_queue_async, resume_queue = runner.twin_methods(_resume_queue)

    def _list_queue_states(
        self, queue: str | None = None
    ) -> runner.Call[list[jobs.QueueState]]:
        """
        The state of the queues that were ever paused, by name; any other queue is
        active. ``list_queues_async`` (:meth:`list_stats_async` by queue) counts the
        jobs of the queues that hold some.

        :param queue: only this queue.
        """
        return queue_operations.list_queue_states(queue)

    list_queue_states_async, list_queue_states = runner.twin_methods(_list_queue_states)
