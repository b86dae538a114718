"""Jobs and deferrers: pure parts."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import jobs


def test_job_requires_an_aware_schedule() -> None:
    with pytest.raises(ValueError, match="Timezone aware"):
        jobs.Job(
            queue="q",
            lock=None,
            queueing_lock=None,
            task_name="t",
            scheduled_at=datetime.datetime(2020, 1, 1),
        )


def test_call_string_and_log_context() -> None:
    when = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    job = jobs.Job(
        id=12,
        queue="q",
        lock=None,
        queueing_lock=None,
        task_name="mod.add",
        task_kwargs={"a": 1, "b": "x"},
        scheduled_at=when,
    )
    assert job.call_string == "mod.add[12](a=1, b='x')"
    context = job.log_context()
    assert context["scheduled_at"] == "2020-01-01T00:00:00+00:00"
    assert context["call_string"] == job.call_string


def test_from_row_maps_database_names() -> None:
    job = jobs.Job.from_row(
        {
            "id": 3,
            "status": "todo",
            "lock": "l",
            "queueing_lock": None,
            "task_name": "t",
            "args": {"x": 1},
            "scheduled_at": None,
            "queue_name": "q",
            "priority": 4,
            "attempts": 2,
        }
    )
    assert (job.queue, job.task_kwargs, job.priority, job.attempts) == (
        "q",
        {"x": 1},
        4,
        2,
    )
    assert job.abort_requested is False
    assert job.worker_id is None


def test_make_new_job_merges_arguments() -> None:
    base = jobs.Job(
        queue="q",
        lock=None,
        queueing_lock=None,
        task_name="t",
        task_kwargs={"a": 1, "b": 2},
    )
    deferrer = jobs.JobDeferrer(job_manager=None, job=base)  # type: ignore[arg-type]
    assert deferrer.make_new_job(b=3).task_kwargs == {"a": 1, "b": 3}
    assert base.task_kwargs == {"a": 1, "b": 2}
