"""Read-only, unmanaged models of procrastinate's tables, for the admin and queries.

The tables belong to procrastinate's SQL schema (created by the migrations of this
app, which run procrastinate's SQL files): Django never alters them. Writing through
the models would bypass the invariants kept by procrastinate's SQL functions, so it
raises :class:`~procrastinate.contrib.django.exceptions.ReadOnlyModel` unless
``PROCRASTINATE_READONLY_MODELS`` is ``False``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar

from django.db import models

from procrastinate import jobs
from procrastinate.contrib.django import exceptions
from procrastinate.contrib.django.settings import settings
from procrastinate.sql import facts

_Model = TypeVar("_Model", bound=models.Model)

if TYPE_CHECKING:
    # Without the django-stubs mypy plugin, the type of a field is spelled out: what
    # it accepts, then what it returns.
    CharField: TypeAlias = models.CharField[str, str]
    IntegerField: TypeAlias = models.IntegerField[int, int]
    NullableTextField: TypeAlias = models.TextField[str | None, str | None]
    DateTimeField: TypeAlias = models.DateTimeField[
        datetime.datetime, datetime.datetime
    ]
    NullableDateTimeField: TypeAlias = models.DateTimeField[
        datetime.datetime | None, datetime.datetime | None
    ]

JOB_STATUSES = [(status.value, status.value) for status in jobs.Status]
LOCK_MODES = [(mode, mode) for mode in facts.LOCK_MODES]
EVENT_TYPES = [
    (event, event)
    for event in (
        "deferred",
        "started",
        "deferred_for_retry",
        "failed",
        "succeeded",
        "cancelled",
        "abort_requested",
        "aborted",
        "scheduled",
        "retried",
    )
]


def check_writable() -> None:
    """:raises ReadOnlyModel: the models are read-only (the default)."""
    if settings.readonly_models:
        raise exceptions.ReadOnlyModel


class ReadOnlyQuerySet(models.QuerySet[_Model]):
    """A queryset whose bulk writes raise
    :class:`~procrastinate.contrib.django.exceptions.ReadOnlyModel`."""

    def update(self, **kwargs: Any) -> int:
        check_writable()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        check_writable()
        return super().delete()

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[_Model]:
        check_writable()
        return super().bulk_create(*args, **kwargs)

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        check_writable()
        return super().bulk_update(*args, **kwargs)


class ProcrastinateReadOnlyModel(models.Model):
    """Abstract base of the models: ``save`` and ``delete`` raise
    :class:`~procrastinate.contrib.django.exceptions.ReadOnlyModel`."""

    objects: ClassVar[models.Manager[Any]] = ReadOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        check_writable()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        check_writable()
        return super().delete(*args, **kwargs)


class ProcrastinateWorker(ProcrastinateReadOnlyModel):
    """A running worker (``procrastinate_workers``), alive while its heartbeat is
    recent."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    last_heartbeat: DateTimeField = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "procrastinate_workers"

    def __str__(self) -> str:
        return f"Worker #{self.id}"


class ProcrastinateJob(ProcrastinateReadOnlyModel):
    """
    A job (``procrastinate_jobs``).

    ``lock`` and ``queueing_lock`` are not unique here: the database only forbids two
    running jobs with one lock, and two waiting jobs with one queueing lock.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    queue_name: CharField = models.CharField(max_length=128)
    task_name: CharField = models.CharField(max_length=128)
    priority: IntegerField = models.IntegerField(default=0)
    lock: NullableTextField = models.TextField(null=True, blank=True)
    queueing_lock: NullableTextField = models.TextField(null=True, blank=True)
    args: models.JSONField[Any, Any] = models.JSONField(default=dict)
    status: CharField = models.CharField(
        max_length=32, choices=JOB_STATUSES, default="todo"
    )
    scheduled_at: NullableDateTimeField = models.DateTimeField(null=True, blank=True)
    attempts: IntegerField = models.IntegerField(default=0)
    abort_requested: models.BooleanField[bool, bool] = models.BooleanField(
        default=False
    )
    worker: models.ForeignKey[
        ProcrastinateWorker | None, ProcrastinateWorker | None
    ] = models.ForeignKey(
        ProcrastinateWorker, on_delete=models.SET_NULL, null=True, blank=True
    )
    # Set by Django from the foreign key; declared for type checkers.
    worker_id: int | None
    lock_mode: CharField = models.CharField(
        max_length=32, choices=LOCK_MODES, default=jobs.DEFAULT_LOCK_MODE
    )
    #: What the task returned, ``{"value": ...}``, or ``{"refused": "<why>"}``; see
    #: :meth:`~procrastinate.manager.JobManager.get_job_result`.
    result: models.JSONField[Any, Any] = models.JSONField(null=True, blank=True)
    #: What the last failed attempt raised: ``{"type", "message", "traceback"}``.
    error: models.JSONField[Any, Any] = models.JSONField(null=True, blank=True)
    timeout: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True
    )
    metadata: models.JSONField[Any, Any] = models.JSONField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "procrastinate_jobs"

    def __str__(self) -> str:
        return f"#{self.id} {self.task_name} on {self.queue_name} - [{self.status}]"

    @property
    def procrastinate_job(self) -> jobs.Job:
        """The job as procrastinate's :class:`~procrastinate.jobs.Job`."""
        return jobs.Job(
            id=self.id,
            status=self.status,
            queue=self.queue_name,
            priority=self.priority,
            lock=self.lock,
            queueing_lock=self.queueing_lock,
            task_name=self.task_name,
            task_kwargs=self.args,
            scheduled_at=self.scheduled_at,
            attempts=self.attempts,
            abort_requested=self.abort_requested,
            worker_id=self.worker_id,
            lock_mode=self.lock_mode,
            timeout=self.timeout,
            metadata=self.metadata,
        )


class ProcrastinateEvent(ProcrastinateReadOnlyModel):
    """Something that happened to a job (``procrastinate_events``)."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    job: models.ForeignKey[ProcrastinateJob, ProcrastinateJob] = models.ForeignKey(
        ProcrastinateJob, on_delete=models.CASCADE
    )
    job_id: int
    type: CharField = models.CharField(max_length=32, choices=EVENT_TYPES)
    at: NullableDateTimeField = models.DateTimeField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "procrastinate_events"
        get_latest_by = "at"

    def __str__(self) -> str:
        return f"{self.type} at {self.at}"


class ProcrastinatePeriodicDefer(ProcrastinateReadOnlyModel):
    """The latest tick deferred for a periodic task
    (``procrastinate_periodic_defers``)."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    task_name: CharField = models.CharField(max_length=128)
    defer_timestamp: models.BigIntegerField[int | None, int | None] = (
        models.BigIntegerField(null=True, blank=True)
    )
    job: models.ForeignKey[ProcrastinateJob | None, ProcrastinateJob | None] = (
        models.ForeignKey(
            ProcrastinateJob, on_delete=models.DO_NOTHING, null=True, blank=True
        )
    )
    job_id: int | None
    periodic_id: CharField = models.CharField(max_length=128, default="", blank=True)

    class Meta:
        managed = False
        db_table = "procrastinate_periodic_defers"
        unique_together = [("task_name", "periodic_id", "defer_timestamp")]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.periodic_id}] at {self.defer_timestamp}"


class ProcrastinateQueueLimit(ProcrastinateReadOnlyModel):
    """The limits of a queue (``procrastinate_queue_limits``), for every worker
    together; set them with ``procrastinate queue limit``."""

    queue_name: CharField = models.CharField(max_length=128, primary_key=True)
    max_running: models.IntegerField[int | None, int | None] = models.IntegerField(
        null=True, blank=True
    )
    max_starts: models.IntegerField[int | None, int | None] = models.IntegerField(
        null=True, blank=True
    )
    per_seconds: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True
    )

    class Meta:
        managed = False
        db_table = "procrastinate_queue_limits"

    def __str__(self) -> str:
        return f"Limits of {self.queue_name}"
