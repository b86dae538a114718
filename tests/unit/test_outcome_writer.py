"""The batching of a worker's outcomes: which outcomes share a statement, and what a
failed statement does."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from procrastinate import exceptions, jobs, outcome_writer, outcomes
from tests.support.jobs import make_job

SUCCESS = outcomes.Outcome(
    status=jobs.Status.SUCCEEDED, title="Success", action="", level=logging.INFO
)


class Store:
    """A job manager's ``store_outcomes``: records each statement's ids; may fail
    first, or be held until released."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.statements: list[list[int]] = []
        self.worker_ids: list[list[int | None]] = []
        self.failures = list(failures or [])
        self.release: asyncio.Event | None = None

    async def store_outcomes(self, rows: list[dict[str, Any]]) -> dict[int, Any]:
        if self.release is not None:
            await self.release.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.statements.append([row["id"] for row in rows])
        self.worker_ids.append([row["worker_id"] for row in rows])
        return {row["id"]: "finished" for row in rows}


def writer(store: Store, **options: Any) -> outcome_writer.OutcomeWriter:
    return outcome_writer.OutcomeWriter(
        job_manager=store,  # type: ignore[arg-type]
        delete_jobs=jobs.DeleteJobCondition.NEVER,
        logger=logging.getLogger("test"),
        log_extra=lambda **fields: fields,
        **options,
    )


def job(job_id: int, worker_id: int = 1) -> jobs.Job:
    return make_job(id=job_id, worker_id=worker_id)


async def write_all(
    batch_writer: outcome_writer.OutcomeWriter, *job_ids: int
) -> list[str | None]:
    return list(
        await asyncio.gather(*(batch_writer.submit(job(i), SUCCESS) for i in job_ids))
    )


async def test_outcomes_ready_together_share_one_statement() -> None:
    store = Store()
    assert await write_all(writer(store), 1, 2, 3) == ["finished"] * 3
    assert store.statements == [[1, 2, 3]]


async def test_outcomes_ending_during_a_write_share_the_next_one() -> None:
    store = Store()
    store.release = asyncio.Event()
    batch_writer = writer(store)
    first = asyncio.ensure_future(batch_writer.submit(job(1), SUCCESS))
    await asyncio.sleep(0.01)
    later = asyncio.ensure_future(write_all(batch_writer, 2, 3, 4))
    await asyncio.sleep(0.01)
    assert len(batch_writer) == 3
    store.release.set()
    await asyncio.gather(first, later)
    assert store.statements == [[1], [2, 3, 4]]


async def test_a_statement_holds_at_most_batch_size_outcomes() -> None:
    store = Store()
    await write_all(writer(store, batch_size=2), 1, 2, 3, 4, 5)
    assert store.statements == [[1, 2], [3, 4], [5]]


async def test_a_job_appears_once_per_statement() -> None:
    store = Store()
    await write_all(writer(store), 1, 2, 1)
    assert store.statements == [[1, 2], [1]]


async def test_the_delay_gathers_outcomes_until_a_batch_is_full() -> None:
    store = Store()
    batch_writer = writer(store, batch_size=3, delay=60)
    first = asyncio.ensure_future(batch_writer.submit(job(1), SUCCESS))
    await asyncio.sleep(0.01)
    assert store.statements == []
    await write_all(batch_writer, 2, 3)
    await first
    assert store.statements == [[1, 2, 3]]


async def test_hurry_writes_the_waiting_outcomes_at_once() -> None:
    store = Store()
    batch_writer = writer(store, delay=60)
    first = asyncio.ensure_future(batch_writer.submit(job(1), SUCCESS))
    await asyncio.sleep(0.01)
    batch_writer.hurry()
    assert await asyncio.wait_for(first, timeout=5) == "finished"
    assert store.statements == [[1]]


async def test_a_transient_error_is_retried_until_stored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(outcome_writer, "BACKOFF_MAX", 0.01)
    store = Store(failures=[exceptions.DatabaseUnavailable("down")] * 2)
    assert await write_all(writer(store), 1, 2) == ["finished"] * 2
    assert store.statements == [[1, 2]]
    retries = [r for r in caplog.records if r.action == "persist_job_retry"]
    assert [r.getMessage()[:41] for r in retries] == [
        "Could not store the outcome of 2 job(s) ("
    ] * 2


async def test_any_other_error_reaches_every_caller_of_the_batch() -> None:
    store = Store(failures=[RuntimeError("driver's own error")])
    batch_writer = writer(store)
    results = await asyncio.gather(
        batch_writer.submit(job(1), SUCCESS),
        batch_writer.submit(job(2), SUCCESS),
        return_exceptions=True,
    )
    assert [str(result) for result in results] == ["driver's own error"] * 2
    assert store.statements == []


async def test_a_waiting_outcome_follows_its_job_to_a_new_worker_id() -> None:
    store = Store()
    store.release = asyncio.Event()
    batch_writer = writer(store)
    first = asyncio.ensure_future(batch_writer.submit(job(1, worker_id=1), SUCCESS))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batch_writer.submit(job(2, worker_id=1), SUCCESS))
    await asyncio.sleep(0.01)
    batch_writer.follow_owner(2, 9)
    store.release.set()
    await asyncio.gather(first, second)
    assert store.worker_ids == [[1], [9]]
