"""Jobs and deferrers: pure parts."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import exceptions, jobs, operations


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


def _job(**fields: object) -> jobs.Job:
    defaults: dict[str, object] = {
        "queue": "q",
        "lock": None,
        "queueing_lock": None,
        "task_name": "t",
    }
    return jobs.Job(**{**defaults, **fields})  # type: ignore[arg-type]


def test_evolve_copies_with_changes_and_recomputes_the_call_string() -> None:
    job = _job(id=1)
    assert job.call_string == "t[1]()"

    copy = job.evolve(id=2, task_kwargs={"a": 1})

    assert (copy.id, copy.task_kwargs, copy.call_string) == (2, {"a": 1}, "t[2](a=1)")
    assert job == _job(id=1)
    with pytest.raises(ValueError, match="Timezone aware"):
        job.evolve(scheduled_at=datetime.datetime(2020, 1, 1))
    with pytest.raises(TypeError, match="unknown"):
        job.evolve(unknown=1)


def test_a_deferred_job_sends_only_what_differs_from_the_defaults() -> None:
    when = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)

    assert operations.job_to_defer(_job()) == {"queue_name": "q", "task_name": "t"}
    assert operations.job_to_defer(
        _job(
            task_kwargs={"a": 1},
            priority=-1,
            lock="l",
            queueing_lock="ql",
            scheduled_at=when,
            lock_mode="mutex",
            timeout=2.5,
            metadata={"k": "v"},
        )
    ) == {
        "queue_name": "q",
        "task_name": "t",
        "args": {"a": 1},
        "priority": -1,
        "lock": "l",
        "queueing_lock": "ql",
        "scheduled_at": "2020-01-01T00:00:00+00:00",
        "lock_mode": "mutex",
        "timeout": 2.5,
        "metadata": {"k": "v"},
    }


ROW = {
    "id": 1,
    "status": "doing",
    "lock": None,
    "queueing_lock": None,
    "task_name": "t",
    "queue_name": "q",
    "priority": 0,
    "attempts": 0,
    "abort_requested": False,
    "worker_id": 3,
    "args_text": "{}",
    "scheduled_at_epoch": None,
}


def test_a_fetched_row_brings_the_job_options() -> None:
    fetched = jobs.load_fetched_row(
        {**ROW, "timeout": 1.5, "metadata_text": '{"trace_context": {}}'}, None
    )

    assert (fetched.job.timeout, fetched.job.metadata) == (1.5, {"trace_context": {}})
    assert jobs.load_fetched_row(ROW, None).job.metadata is None


def test_metadata_that_is_not_an_object_fails_only_its_job() -> None:
    fetched = jobs.load_fetched_row({**ROW, "metadata_text": "[1]"}, None)

    assert isinstance(fetched.load_error, exceptions.UnloadableJob)
    assert "metadata must be a JSON object, not list" in str(fetched.load_error)
