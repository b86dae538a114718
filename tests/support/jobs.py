"""Jobs: built to hand to the job manager directly, or deferred through the app."""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate import jobs


def make_job(**fields: Any) -> jobs.Job:
    """A job of task ``t`` in the ``default`` queue, without locks; ``fields``
    override any of those or set the others (``id``, ``priority``, ...)."""
    defaults: dict[str, Any] = {
        "queue": "default",
        "lock": None,
        "queueing_lock": None,
        "task_name": "t",
    }
    return jobs.Job(**{**defaults, **fields})


class Deferrer:
    """Defers jobs of the tasks of one module with the library API (not the CLI)."""

    def __init__(self, app: procrastinate.App, tasks_module: str) -> None:
        self.app = app
        self.tasks_module = tasks_module

    def __call__(self, task: str, *task_kwargs: Any, **options: Any) -> list[int]:
        """Defer one job per dict of arguments (one job without arguments when none
        is given) of ``<tasks_module>.<task>``, in one query; returns their ids."""
        deferrer = self.app.configure_task(f"{self.tasks_module}.{task}", **options)
        return deferrer.batch_defer(*(task_kwargs or ({},)))
