"""Stalled jobs and workers, and the deletion of old jobs."""

from __future__ import annotations

import pytest

from procrastinate import exceptions, jobs, manager
from tests.scenarios import fetch_ids, ids_of, make_job
from tests.scenarios.conftest import Backend


async def stalled_ids(job_manager: manager.JobManager, **options: object) -> list[int]:
    stalled = await job_manager.get_stalled_jobs(**options)  # type: ignore[arg-type]
    return [job.id for job in stalled if job.id is not None]


async def test_stalled_jobs_by_heartbeat_and_pruning(
    job_manager: manager.JobManager, backend: Backend
) -> None:
    alive = await job_manager.register_worker()
    dead = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async(
        [make_job(), make_job(queue="other", task_name="u"), make_job()]
    )
    assert await fetch_ids(job_manager, alive, limit=1) == [1]
    assert await fetch_ids(job_manager, dead, limit=1) == [2]
    backend.age_heartbeat(dead, 3600)
    assert await stalled_ids(job_manager) == [2]
    assert await stalled_ids(job_manager, queue="default") == []
    assert await stalled_ids(job_manager, task_name="u") == [2]
    assert await stalled_ids(job_manager, seconds_since_heartbeat=7200) == []

    await job_manager.update_heartbeat(alive)
    assert await job_manager.prune_stalled_workers(60) == [dead]
    assert await job_manager.prune_stalled_workers(60) == []
    (orphan,) = await job_manager.list_jobs_async(id=2)
    assert orphan.worker_id is None
    # A job without a worker stays stalled, whatever the delay.
    assert await stalled_ids(job_manager, seconds_since_heartbeat=7200) == [2]


async def test_orphaned_jobs_are_claimed_once(
    job_manager: manager.JobManager, backend: Backend
) -> None:
    rescuer = await job_manager.register_worker()
    dead = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job(), make_job(), make_job()])
    assert await fetch_ids(job_manager, dead, limit=2) == [1, 2]
    assert await job_manager.claim_orphaned_jobs(rescuer) == []
    backend.age_heartbeat(dead, 3600)
    assert await job_manager.prune_stalled_workers(60) == [dead]
    with pytest.raises(exceptions.ConnectorException):
        await job_manager.claim_orphaned_jobs(dead)
    claimed = [item.job for item in await job_manager.claim_orphaned_jobs(rescuer)]
    assert [(job.id, job.status, job.worker_id) for job in claimed] == [
        (1, "doing", rescuer),
        (2, "doing", rescuer),
    ]
    assert await job_manager.claim_orphaned_jobs(rescuer) == []
    assert backend.event_types(1) == ["deferred", "started"]


async def test_unregistered_worker_leaves_its_jobs_stalled(
    job_manager: manager.JobManager,
) -> None:
    worker_id = await job_manager.register_worker()
    await job_manager.defer_job_async(make_job())
    await fetch_ids(job_manager, worker_id)
    assert await stalled_ids(job_manager) == []
    await job_manager.unregister_worker(worker_id)
    assert await ids_of(job_manager, worker_id=worker_id) == []
    assert await stalled_ids(job_manager) == [1]


async def test_stalled_jobs_by_start_time(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job(), make_job()])
    await fetch_ids(job_manager, worker_id, limit=2)
    backend.age_events(1, hours=2)
    backend.age_events(3, hours=2)
    with pytest.warns(DeprecationWarning, match="nb_seconds is deprecated"):
        assert await stalled_ids(job_manager, nb_seconds=3600) == [1]


async def test_delete_old_jobs(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(queue=q) for q in ("a", "a", "b", "a", "a", "a")]
    )
    await fetch_ids(job_manager, worker_id, queues=["a", "b"], limit=5)
    await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, False)
    await job_manager.finish_job_by_id_async(2, jobs.Status.FAILED, False)
    await job_manager.finish_job_by_id_async(3, jobs.Status.SUCCEEDED, False)
    await job_manager.finish_job_by_id_async(5, jobs.Status.ABORTED, False)
    assert await job_manager.cancel_job_by_id_async(6)
    for job_id in (1, 2, 3, 4, 5, 6):
        backend.age_events(job_id, hours=3)
    # Job 4 is old but still running.
    await job_manager.delete_old_jobs(nb_hours=4)
    assert await ids_of(job_manager) == [1, 2, 3, 4, 5, 6]
    await job_manager.delete_old_jobs(nb_hours=2, queue="a")
    assert await ids_of(job_manager) == [2, 3, 4, 5, 6]
    await job_manager.delete_old_jobs(
        nb_hours=2, include_failed=True, include_cancelled=True
    )
    assert await ids_of(job_manager) == [4, 5]
    await job_manager.delete_old_jobs(nb_hours=2, include_aborted=True)
    assert await ids_of(job_manager) == [4]


async def test_recent_event_keeps_a_job(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    await job_manager.defer_job_async(make_job())
    backend.age_events(1, hours=3)
    await fetch_ids(job_manager, worker_id)
    await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, False)
    await job_manager.delete_old_jobs(nb_hours=2)
    assert await ids_of(job_manager) == [1]
