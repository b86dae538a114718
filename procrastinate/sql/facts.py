"""Facts of ``schema.sql`` that Python code must agree with: channel names, constraint
names and column limits. They live beside the SQL so that a change to the schema and
to its Python mirror is one change."""

from __future__ import annotations

from collections.abc import Iterable

#: The unique index that refuses a second waiting job with the same queueing lock.
QUEUEING_LOCK_CONSTRAINT = "procrastinate_jobs_queueing_lock_idx_v1"
#: The channel notified for every queue.
ANY_QUEUE_CHANNEL = "procrastinate_any_queue_v1"
#: The prefix of a queue's own channel (see ``procrastinate_queue_channel_v1``).
QUEUE_CHANNEL_PREFIX = "procrastinate_queue_v1#"
#: The channel notified of the jobs that reach a final status (the trigger
#: ``procrastinate_trigger_jobs_finished_v1``), for ``wait_for_job``; workers do
#: not listen to it. Its payload is ``{"job_ids": [...]}``.
JOB_FINISHED_CHANNEL = "procrastinate_job_finished_v1"
#: The most ids one notification of :data:`JOB_FINISHED_CHANNEL` carries: 300 ids of
#: 19 digits stay under PostgreSQL's 8000 bytes of payload.
FINISHED_IDS_PER_NOTIFICATION = 300
#: The statuses that end a job.
FINAL_STATUSES = ("succeeded", "failed", "cancelled", "aborted")
#: PostgreSQL identifiers, hence channel names, are at most 63 bytes.
MAX_CHANNEL_BYTES = 63
#: ``character varying(128)``: queue, task, lock and periodic names.
MAX_NAME_LENGTH = 128
#: The values of ``procrastinate_lock_mode``, the default first.
LOCK_MODES = ("ordered", "mutex")
#: The most starts a queue limit may allow per period (``procrastinate_queue_limits``
#: keeps one timestamp per start within the period).
MAX_STARTS_LIMIT = 1000


def queue_channel(queue: str) -> str:
    """
    The notification channel of a queue, truncated to 63 bytes (on a character
    boundary) like the database's ``procrastinate_queue_channel_v1`` does.
    """
    channel = f"{QUEUE_CHANNEL_PREFIX}{queue}"
    while len(channel.encode()) > MAX_CHANNEL_BYTES:
        channel = channel[:-1]
    return channel


def channels_for_queues(queues: Iterable[str] | None = None) -> list[str]:
    """The LISTEN channels of a worker listening to ``queues`` (``None``: all)."""
    if queues is None:
        return [ANY_QUEUE_CHANNEL]
    return list(dict.fromkeys(queue_channel(queue) for queue in queues))
