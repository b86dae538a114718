"""What a worker hears: the notifications procrastinate sends (a job inserted, an
abort requested, a queue resumed), read defensively, and the marker by which a running job that asks
for its own abort tells its worker before the notification comes back."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Callable

import attr

from procrastinate import connector, jobs

# Logged where procrastinate 3.x logged it, with the job manager.
logger = logging.getLogger("procrastinate.manager")

NotificationCallback = Callable[..., Awaitable[None]]
NOTIFICATION_TYPES = ("job_inserted", "abort_job_requested")
#: The notification that ``procrastinate_set_queue_paused_v1`` sends on resuming.
QUEUE_RESUMED = "queue_resumed"
# How much of a malformed notification a warning shows.
PAYLOAD_PREVIEW = 100


@attr.dataclass(kw_only=True)
class RunningJobMarker:
    """What a worker's running job tells the worker from inside its own task."""

    job_id: int
    #: The job requested its own abort: it stops by itself (or raises), so the
    #: worker does not interrupt it, and its own error decides its outcome.
    aborted_itself: bool = False


#: Set by the worker in each job's task (and inherited by the threads of sync tasks).
running_job: contextvars.ContextVar[RunningJobMarker | None] = contextvars.ContextVar(
    "procrastinate_running_job", default=None
)


def note_abort_request(job_id: int, abort: bool) -> None:
    """Record that the job running in this context asks for its own abort."""
    marker = running_job.get()
    if abort and marker is not None and marker.job_id == job_id:
        marker.aborted_itself = True


def parse_notification(payload: str) -> jobs.Notification | None:
    """
    The notification a LISTEN payload carries, or ``None`` when it is not one that
    procrastinate sends: any database user can NOTIFY, so a payload is only a hint.
    """
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind, job_id = data.get("type"), data.get("job_id")
    if kind == QUEUE_RESUMED:
        queue = data.get("queue")
        if not isinstance(queue, str):
            return None
        return jobs.QueueResumed(type="queue_resumed", queue=queue)
    # bool is an int subclass, but true is no job id.
    if kind not in NOTIFICATION_TYPES or type(job_id) is not int:
        return None
    if kind == "job_inserted":
        return jobs.JobInserted(type="job_inserted", job_id=job_id)
    return jobs.AbortJobRequested(type="abort_job_requested", job_id=job_id)


def decoder(on_notification: NotificationCallback) -> connector.Notify:
    """
    The callback that a connector's ``listen_notify`` awaits with raw payloads: it
    awaits ``on_notification(channel=..., notification=...)`` with each one that
    procrastinate sent, decoded, and logs a warning for any other.

    :param on_notification: awaited with each notification, decoded.
    """

    async def decode(*, channel: str, payload: str) -> None:
        notification = parse_notification(payload)
        if notification is None:
            preview = payload[:PAYLOAD_PREVIEW]
            logger.warning(
                f"Ignoring a notification on {channel} that procrastinate did not "
                f"send: {preview!r}"
                + ("..." if len(payload) > PAYLOAD_PREVIEW else ""),
                extra={"action": "malformed_notification", "payload": preview},
            )
            return
        await on_notification(channel=channel, notification=notification)

    return decode
