"""The read-only models of procrastinate's tables."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest
from django.test import override_settings

from procrastinate import jobs
from procrastinate.contrib.django import ReadOnlyModel, models
from tests.django_project.testapp import tasks


@pytest.fixture
def job(django_db: str) -> models.ProcrastinateJob:
    job_id = tasks.greet.configure(lock="L", queueing_lock="Q").defer(name="Ada")
    return models.ProcrastinateJob.objects.get(id=job_id)


def test_job_fields(job: models.ProcrastinateJob) -> None:
    assert job.task_name == "tests.django_project.testapp.tasks.greet"
    assert job.queue_name == "greetings"
    assert job.args == {"name": "Ada"}
    assert (job.status, job.lock, job.queueing_lock) == ("todo", "L", "Q")
    assert str(job) == f"#{job.id} {job.task_name} on greetings - [todo]"


def test_procrastinate_job(job: models.ProcrastinateJob) -> None:
    assert job.procrastinate_job == jobs.Job(
        id=job.id,
        status="todo",
        queue="greetings",
        priority=0,
        lock="L",
        queueing_lock="Q",
        task_name="tests.django_project.testapp.tasks.greet",
        task_kwargs={"name": "Ada"},
    )


def test_events_and_workers(
    job: models.ProcrastinateJob, db_connection: psycopg.Connection[Any]
) -> None:
    db_connection.execute("INSERT INTO procrastinate_workers DEFAULT VALUES")
    db_connection.execute(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = 1 WHERE id = %s",
        (job.id,),
    )

    events = models.ProcrastinateEvent.objects.filter(job=job).order_by("id")
    job.refresh_from_db()

    assert [event.type for event in events] == ["deferred", "started"]
    assert isinstance(events[0].at, datetime.datetime)
    assert job.worker is not None
    assert isinstance(job.worker.last_heartbeat, datetime.datetime)
    assert models.ProcrastinateEvent.objects.filter(job=job).latest().type == "started"


def test_lock_is_not_unique(django_db: str) -> None:
    lock_field = models.ProcrastinateJob._meta.get_field("lock")
    queueing_lock_field = models.ProcrastinateJob._meta.get_field("queueing_lock")

    assert not lock_field.unique
    assert not queueing_lock_field.unique


def test_event_types_include_retried() -> None:
    assert ("retried", "retried") in models.EVENT_TYPES


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda job: job.save(), id="save"),
        pytest.param(lambda job: job.delete(), id="delete"),
        pytest.param(
            lambda job: models.ProcrastinateJob.objects.filter(id=job.id).update(
                priority=5
            ),
            id="update",
        ),
        pytest.param(
            lambda job: models.ProcrastinateJob.objects.filter(id=job.id).delete(),
            id="queryset-delete",
        ),
        pytest.param(
            lambda job: models.ProcrastinateJob.objects.create(
                queue_name="q", task_name="t"
            ),
            id="create",
        ),
        pytest.param(
            lambda job: models.ProcrastinateJob.objects.bulk_create([]), id="bulk"
        ),
    ],
)
def test_models_are_read_only(job: models.ProcrastinateJob, write: Any) -> None:
    with pytest.raises(ReadOnlyModel):
        write(job)

    job.refresh_from_db()
    assert job.priority == 0


@override_settings(PROCRASTINATE_READONLY_MODELS=False)
def test_models_writable_when_allowed(job: models.ProcrastinateJob) -> None:
    job.priority = 7
    job.save()

    assert models.ProcrastinateJob.objects.get(id=job.id).priority == 7
