"""``python -m procrastinate_demo``: defer a few jobs, run them, say what happened."""

from __future__ import annotations

import asyncio
import logging

from procrastinate_demo import tasks
from procrastinate_demo.app import app


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    async with app.open_async():
        if not await app.check_connection_async():
            raise SystemExit(
                "The procrastinate schema is missing: run `procrastinate "
                "--app=procrastinate_demo.app.app schema --apply` first."
            )
        ids = [
            await tasks.sum.defer_async(a=3, b=5),
            await tasks.async_sum.defer_async(a=1, b=2),
            await tasks.sleep.defer_async(seconds=0.2),
            await tasks.sync_sleep.defer_async(seconds=0.2),
            await tasks.flaky.defer_async(fail_times=2),
        ]
        print(f"Deferred jobs {ids}; running a worker until the queues are empty")
        await app.run_worker_async(
            wait=False, concurrency=3, install_signal_handlers=False
        )
        for job_id in ids:
            (job,) = await app.job_manager.list_jobs_async(id=job_id)
            print(
                f"Job #{job.id} {job.task_name}: {job.status} after "
                f"{job.attempts} attempt(s)"
            )


if __name__ == "__main__":
    asyncio.run(main())
