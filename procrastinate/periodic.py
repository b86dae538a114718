"""Periodic tasks: cron schedules, and the deferrer each worker runs for them.

Which ticks are due is decided by pure functions; the deferrer only performs the
deferring. Several workers may defer the same tick: the database keeps one job per tick
(see ``procrastinate_defer_periodic_job_v2``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import attr
from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from procrastinate import connector, deferrer, exceptions, jobs, tasks

logger = logging.getLogger(__name__)

# Waking a little after the tick makes sure that the tick is in the past when we
# compute what is due, whatever the clock resolution.
MARGIN = 0.5
DEFAULT_MAX_DELAY = 600.0


@attr.dataclass(frozen=True, kw_only=True)
class PeriodicTask:
    """A task with one of its schedules."""

    task: tasks.Task[Any, Any, Any]
    cron: str
    periodic_id: str
    configure_kwargs: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the schedule: task name and periodic id."""
        return (self.task.name, self.periodic_id)


def check_cron(cron: str, task_name: str) -> None:
    """
    :raises InvalidCronExpression: ``cron`` is not a valid 5- or 6-field expression.
    """
    try:
        croniter(cron)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        raise exceptions.InvalidCronExpression(
            f"Periodic task {task_name!r} has an invalid cron expression {cron!r}: "
            f"{exc}. Expected 5 fields (minute hour day month weekday), "
            "optionally a 6th for seconds."
        ) from exc


class PeriodicRegistry:
    """The periodic schedules of an app or blueprint."""

    def __init__(self) -> None:
        self.periodic_tasks: dict[tuple[str, str], PeriodicTask] = {}

    def register(
        self,
        task: tasks.Task[Any, Any, Any],
        cron: str,
        periodic_id: str,
        configure_kwargs: dict[str, Any],
    ) -> PeriodicTask:
        """
        Add a schedule.

        :raises InvalidCronExpression: the cron expression cannot be parsed.
        :raises TaskAlreadyRegistered: the task already has a schedule with this id.
        """
        check_cron(cron, task.name)
        periodic_task = PeriodicTask(
            task=task,
            cron=cron,
            periodic_id=periodic_id,
            configure_kwargs=configure_kwargs,
        )
        if periodic_task.key in self.periodic_tasks:
            raise exceptions.TaskAlreadyRegistered(
                f"Task {task.name} already has a periodic schedule with id "
                f"{periodic_id!r}: give each schedule its own periodic_id"
            )
        logger.info(
            f"Registering task {task.name} to run periodically with cron {cron}",
            extra={
                "action": "registering_periodic_task",
                "task": task.name,
                "cron": cron,
                "periodic_id": periodic_id,
            },
        )
        self.periodic_tasks[periodic_task.key] = periodic_task
        return periodic_task


def due_ticks(
    cron: str, now: float, last_tick: int | None, max_delay: float
) -> list[int]:
    """
    The ticks of ``cron`` to defer at ``now``: every tick after ``last_tick``, or, when
    nothing was deferred yet, the latest past tick if it is at most ``max_delay``
    seconds old (so a restart does not replay the ticks of a downtime).
    """
    if last_tick is None:
        previous = int(croniter(cron, now).get_prev(float))
        if now - previous > max_delay:
            return []
        return [previous]
    ticks = []
    schedule = croniter(cron, last_tick)
    while (tick := int(schedule.get_next(float))) <= now:
        ticks.append(tick)
    return ticks


def next_tick(crons: Iterable[str], now: float) -> float:
    """The earliest tick after ``now`` among ``crons``."""
    return min(croniter(cron, now).get_next(float) for cron in crons)


class PeriodicDeferrer:
    """
    Defers the jobs of periodic tasks, as a side task of each worker.

    :param registry: the schedules.
    :param max_delay: how old (seconds) the latest tick may be, at start, to still be
        deferred.
    """

    def __init__(
        self, registry: PeriodicRegistry, max_delay: float = DEFAULT_MAX_DELAY
    ) -> None:
        self.registry = registry
        self.max_delay = max_delay
        self.last_ticks: dict[tuple[str, str], int] = {}

    async def worker(self) -> None:
        """Defer due ticks, then sleep until the next one; forever."""
        if not self.registry.periodic_tasks:
            logger.debug(
                "No periodic task to defer",
                extra={"action": "periodic_deferrer_no_task"},
            )
            return
        while True:
            now = time.time()
            await self.defer_due(now)
            await self.wait_next_tick(now)

    def due(self, now: float) -> list[tuple[PeriodicTask, int]]:
        """Every (schedule, tick) to defer at ``now``; remembers them as done."""
        result = []
        for key, periodic_task in self.registry.periodic_tasks.items():
            ticks = due_ticks(
                periodic_task.cron, now, self.last_ticks.get(key), self.max_delay
            )
            if not ticks and key not in self.last_ticks:
                logger.debug(
                    f"Ignoring the past ticks of {periodic_task.task.name}: older "
                    f"than max_delay ({self.max_delay} s)",
                    extra={
                        "action": "ignore_periodic_task",
                        "task": periodic_task.task.name,
                    },
                )
                self.last_ticks[key] = int(now)
            for tick in ticks:
                result.append((periodic_task, tick))
                self.last_ticks[key] = tick
        return result

    async def defer_due(self, now: float) -> None:
        """Defer the jobs of every due tick."""
        for periodic_task, tick in self.due(now):
            await self.defer(periodic_task, tick)

    async def defer(self, periodic_task: PeriodicTask, tick: int) -> None:
        """Defer the job of one tick, unless another worker did."""
        kwargs = dict(periodic_task.configure_kwargs)
        kwargs["task_kwargs"] = {**(kwargs.get("task_kwargs") or {}), "timestamp": tick}
        job_deferrer = periodic_task.task.configure(**kwargs)
        job = job_deferrer.make_new_job()
        task_name = periodic_task.task.name
        extra = {
            "task": task_name,
            "periodic_id": periodic_task.periodic_id,
            "defer_timestamp": tick,
        }
        try:
            job_id = await self._defer_periodic_job(
                job_deferrer, job, periodic_task, tick
            )
        except exceptions.AlreadyEnqueued:
            logger.debug(
                f"Periodic job of {task_name} for {tick} not deferred: its queueing "
                "lock is taken",
                extra={"action": "skip_periodic_task_queueing_lock", **extra},
            )
            return
        except exceptions.ConnectorException as exc:
            # It would fail again: this tick is skipped, the next ones are tried.
            logger.error(
                f"Could not defer the periodic job of {task_name} for {tick}: {exc}. "
                "Skipping this tick.",
                extra={"action": "periodic_task_defer_error", **extra},
            )
            return
        if job_id is None:
            logger.debug(
                f"Periodic job of {task_name} for {tick} was deferred already",
                extra={"action": "periodic_task_already_deferred", **extra},
            )
            return
        logger.info(
            f"Periodic job {task_name}[{job_id}] deferred for timestamp {tick}",
            extra={"action": "periodic_task_deferred", "job_id": job_id, **extra},
        )

    async def _defer_periodic_job(
        self,
        job_deferrer: deferrer.JobDeferrer,
        job: jobs.Job,
        periodic_task: PeriodicTask,
        tick: int,
    ) -> int | None:
        # Deferring a tick twice stores one job: a transient error is retried until
        # the database is back.
        backoff = connector.Backoff()
        while True:
            try:
                return await job_deferrer.job_manager.defer_periodic_job(
                    job, periodic_id=periodic_task.periodic_id, defer_timestamp=tick
                )
            except exceptions.TransientDatabaseError as exc:
                delay = backoff.next_delay()
                logger.warning(
                    f"Could not defer the periodic job of {periodic_task.task.name} "
                    f"for {tick} ({exc}), retrying in {delay:.1f} s",
                    extra={
                        "action": "periodic_task_defer_retry",
                        "task": periodic_task.task.name,
                        "defer_timestamp": tick,
                        "delay": delay,
                    },
                )
                await asyncio.sleep(delay)

    async def wait_next_tick(self, now: float) -> None:
        """Sleep until just after the next tick of any schedule."""
        crons = [task.cron for task in self.registry.periodic_tasks.values()]
        delay = max(0.0, next_tick(crons, now) - time.time()) + MARGIN
        logger.debug(
            f"Waiting {delay:.1f} s for the next periodic tick",
            extra={"action": "wait_next_tick", "delay": delay},
        )
        await asyncio.sleep(delay)
