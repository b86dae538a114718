"""The in-memory tables: the rows of ``procrastinate_jobs``, ``procrastinate_events``,
``procrastinate_workers``, ``procrastinate_periodic_defers``,
``procrastinate_queue_limits`` and ``procrastinate_queues``, and the triggers that
fire when a job changes (its events and notifications). Pure code on data: the
notifications wait in :attr:`Tables.notifications` until the connector sends them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from typing import Any

from procrastinate import exceptions, jobs, utils
from procrastinate.sql import facts
from procrastinate.testing import rules
from procrastinate.testing.rules import DOING, TODO, Row

#: A periodic task and its periodic id.
PeriodicKey = tuple[str, str]


@dataclasses.dataclass
class Tables:
    """
    The state of an in-memory database. The attributes are those of
    :class:`~procrastinate.testing.InMemoryConnector`, which exposes them.
    """

    json_dumps: Callable[[Any], str] | None = None
    json_loads: Callable[[str | bytes], Any] | None = None
    #: Job id → row, with the columns of ``procrastinate_jobs`` (``timeout`` and
    #: ``metadata`` only when not NULL).
    jobs: dict[int, Row] = dataclasses.field(default_factory=dict)
    #: Job id → list of ``{"type": ..., "at": ...}``.
    events: dict[int, list[Row]] = dataclasses.field(default_factory=dict)
    #: Worker id → last heartbeat.
    workers: dict[int, datetime.datetime] = dataclasses.field(default_factory=dict)
    #: (task name, periodic id) → latest deferred tick.
    periodic_defers: dict[PeriodicKey, int] = dataclasses.field(default_factory=dict)
    #: (task name, periodic id) → the ticks deferred from the latest one the SQL
    #: keeps on.
    #: Queue name → ``{"paused": ..., "paused_at": ...}``, for the queues that were
    #: ever paused.
    queues: dict[str, Row] = dataclasses.field(default_factory=dict)
    ticks: dict[PeriodicKey, set[int]] = dataclasses.field(default_factory=dict)
    #: Queue name → its limits: ``max_running``, ``max_starts``, ``per_seconds``,
    #: and the ``recent_starts`` of the sliding window.
    queue_limits: dict[str, Row] = dataclasses.field(default_factory=dict)
    job_counter: int = 0
    worker_counter: int = 0
    #: Whether the schema exists, for ``check_connection``.
    table_exists: bool = True
    #: (channel, payload) of the notifications not sent yet.
    notifications: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: The ids of the jobs that the running query finished, notified at its end.
    finished_ids: list[int] = dataclasses.field(default_factory=list)

    # JSON

    def dumps(self, value: Any) -> str:
        """JSON text, as the client sends it (through ``json_dumps``)."""
        return (self.json_dumps or json.dumps)(value)

    def stored_json(self, value: Any) -> Any:
        """A JSON value as it reads back from a ``jsonb`` column: through
        ``json_loads``."""
        return (self.json_loads or json.loads)(json.dumps(value))

    # Reading

    def sorted_jobs(self) -> list[Row]:
        """The jobs, by id."""
        return [self.jobs[job_id] for job_id in sorted(self.jobs)]

    def fetched(self, job: Row) -> Row:
        """A row of ``fetch_jobs`` and the like: args as JSON text, scheduled_at as
        epoch text."""
        row = {
            key: value
            for key, value in job.items()
            if key not in ("args", "scheduled_at")
        }
        row["args_text"] = self.dumps(job["args"])
        row["scheduled_at_epoch"] = jobs.epoch_text(job["scheduled_at"])
        # Left out of the row while NULL (see rules.job_options).
        metadata = row.pop("metadata", None)
        row["timeout"] = job.get("timeout")
        row["metadata_text"] = None if metadata is None else json.dumps(metadata)
        return row

    def latest_event(
        self, job_id: int, event_type: str | None = None
    ) -> datetime.datetime | None:
        """When the latest event of a job (of that type) happened."""
        times = [
            event["at"]
            for event in self.events.get(job_id, [])
            if event_type is None or event["type"] == event_type
        ]
        return max(times, default=None)

    def heartbeat_recent(
        self, worker_id: int | None, threshold: datetime.datetime
    ) -> bool:
        """Whether the worker is registered and alive since ``threshold``."""
        heartbeat = self.workers.get(worker_id) if worker_id is not None else None
        return heartbeat is not None and heartbeat >= threshold

    def check_worker(self, worker_id: int | None) -> None:
        """
        Like the foreign key of ``procrastinate_jobs.worker_id``.

        :raises ConnectorException: the worker is not registered.
        """
        if worker_id is not None and worker_id not in self.workers:
            raise exceptions.ConnectorException(
                'insert or update on table "procrastinate_jobs" violates foreign key '
                f'constraint "procrastinate_jobs_worker_id_fkey" (worker {worker_id})'
            )

    # Writing, with the triggers

    def insert_batch(self, batch: list[Row]) -> list[int]:
        """
        Insert jobs, all or none; their ids in order.

        :raises UniqueViolation: a queueing lock is taken by a waiting job, or used
            twice in the batch.
        :raises ConnectorException: a queue or task name is missing or too long.
        """
        taken = rules.waiting_queueing_locks(self.jobs.values())
        failure = rules.first_invalid(batch, taken)
        if failure is not None:
            index, error = failure
            # The sequence gave an id to every row up to the failing one, included.
            self.job_counter += index + 1
            raise error
        return [self.insert(job) for job in batch]

    def insert(self, values: Row) -> int:
        """Insert a job (constraints checked), recording its events and notifying."""
        self.job_counter += 1
        job_id = self.job_counter
        job = {
            "id": job_id,
            "status": TODO,
            "attempts": 0,
            "abort_requested": False,
            "worker_id": None,
            "lock_mode": jobs.DEFAULT_LOCK_MODE,
            "result": None,
            "error": None,
            **values,
        }
        self.jobs[job_id] = job
        # Triggers fire in name order: scheduled event, then deferred.
        if job["scheduled_at"] is not None:
            self.add_event(job_id, "scheduled", job["scheduled_at"])
        self.add_event(job_id, "deferred")
        self.notify(job["queue_name"], "job_inserted", job_id)
        return job_id

    def update(self, job: Row, **changes: Any) -> None:
        """Set columns of a job and fire the triggers of ``UPDATE ... SET <changes>``."""
        old = dict(job)
        job.update(changes)
        if "abort_requested" in changes:
            self._abort_triggers(old, job)
        if job["scheduled_at"] is not None and job["status"] == TODO:
            self.add_event(job["id"], "scheduled", job["scheduled_at"])
        if "status" in changes:
            self._status_triggers(old, job)

    def _abort_triggers(self, old: Row, job: Row) -> None:
        if old["abort_requested"] or not job["abort_requested"]:
            return
        if job["status"] == DOING:
            self.notify(job["queue_name"], "abort_job_requested", job["id"])
        self.add_event(job["id"], "abort_requested")

    def _status_triggers(self, old: Row, job: Row) -> None:
        event = rules.STATUS_EVENTS.get((old["status"], job["status"]))
        if event is not None:
            self.add_event(job["id"], event)
        if job["status"] in rules.FINAL_STATUSES:
            self.finished_ids.append(job["id"])
        if (
            old["status"] != TODO
            and job["status"] == TODO
            and rules.is_due(job, utils.utcnow())
        ):
            self.notify(job["queue_name"], "job_inserted", job["id"])

    def delete(self, job_id: int) -> None:
        """Delete a job and, by cascade, its events."""
        del self.jobs[job_id]
        self.events.pop(job_id, None)

    def add_event(
        self, job_id: int, event_type: str, at: datetime.datetime | None = None
    ) -> None:
        """Record an event of a job, now unless ``at`` is given."""
        self.events.setdefault(job_id, []).append(
            {"type": event_type, "at": at or utils.utcnow()}
        )

    def notify(self, queue_name: str, kind: str, job_id: int) -> None:
        """Queue the notification of a job on its queue's channel and on the
        any-queue one."""
        # The same text as jsonb_build_object(...)::text in the SQL triggers.
        payload = json.dumps({"type": kind, "job_id": job_id})
        self.notifications.append((facts.queue_channel(queue_name), payload))
        self.notifications.append((facts.ANY_QUEUE_CHANNEL, payload))

    def paused_queues(self) -> set[str]:
        """The names of the paused queues."""
        return {name for name, state in self.queues.items() if state["paused"]}

    def set_queue_paused(self, queue_name: str, pause: bool) -> bool:
        """
        Pause or resume a queue; whether its state changed. Resuming notifies the
        queue's channel and the any-queue one.

        :raises ConnectorException: the name is too long for the column.
        """
        if len(queue_name) > facts.MAX_NAME_LENGTH:
            raise exceptions.ConnectorException(
                f"value too long for type character varying({facts.MAX_NAME_LENGTH})"
            )
        state = self.queues.setdefault(queue_name, {"paused": False, "paused_at": None})
        if state["paused"] == pause:
            return False
        state.update(paused=pause, paused_at=utils.utcnow() if pause else None)
        if not pause:
            payload = json.dumps({"type": "queue_resumed", "queue": queue_name})
            self.notifications.append((facts.queue_channel(queue_name), payload))
            self.notifications.append((facts.ANY_QUEUE_CHANNEL, payload))
        return True

    def take_notifications(self) -> list[tuple[str, str]]:
        """The notifications waiting to be sent, which are forgotten."""
        # Like the statement trigger: the jobs finished by the query, at its end.
        for payload in rules.finished_payloads(self.finished_ids):
            self.notifications.append((facts.JOB_FINISHED_CHANNEL, payload))
        self.finished_ids = []
        notifications, self.notifications = self.notifications, []
        return notifications

    # Workers

    def register_worker(self) -> int:
        """Add a worker, alive now; its id."""
        self.worker_counter += 1
        self.workers[self.worker_counter] = utils.utcnow()
        return self.worker_counter

    def unregister_worker(self, worker_id: int) -> None:
        """Remove a worker; its jobs lose their ``worker_id`` (``ON DELETE SET
        NULL``)."""
        if self.workers.pop(worker_id, None) is None:
            return
        for job in self.jobs.values():
            if job["worker_id"] == worker_id:
                job["worker_id"] = None
