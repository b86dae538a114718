"""The database operations on the worker registry: registering, heartbeats and
pruning the silent workers. Declared like those of :mod:`procrastinate.operations`
(named query, arguments, rows), performed by :mod:`procrastinate.runner`.
"""

from __future__ import annotations

from typing import Any

from procrastinate.operations import (
    any_row,
    by_worker,
    column_list,
    first_int,
    no_arguments,
    nothing,
)
from procrastinate.runner import Operation, Result


def reregistered(result: Result, *_: Any, **__: Any) -> tuple[int, list[int]]:
    """The new worker id and the ids of the jobs given back."""
    row = result.rows[0]
    return row["worker_id"], list(row["job_ids"])


# The declarations.

register_worker = Operation(
    "register_worker", no_arguments, first_int("worker_id"), fetch="one"
)
unregister_worker = Operation("unregister_worker", by_worker, nothing, "none")
update_heartbeat = Operation("update_heartbeat", by_worker, any_row)
reregister_worker = Operation(
    "reregister_worker",
    lambda job_ids: {"job_ids": list(job_ids)},
    reregistered,
    fetch="one",
)
prune_stalled_workers = Operation(
    "prune_stalled_workers",
    lambda seconds_since_heartbeat: {
        "seconds_since_heartbeat": seconds_since_heartbeat
    },
    column_list("worker_id"),
)
