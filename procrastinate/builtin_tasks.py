"""The tasks that every app has."""

from __future__ import annotations

from procrastinate import blueprints, job_context


def blueprint() -> blueprints.Blueprint:
    """A blueprint holding the builtin tasks; each app attaches its own copy."""
    builtin = blueprints.Blueprint()

    @builtin.task(pass_context=True, queue="builtin")
    async def remove_old_jobs(
        context: job_context.JobContext,
        *,
        max_hours: int,
        queue: str | None = None,
        remove_failed: bool | None = False,
        remove_cancelled: bool | None = False,
        remove_aborted: bool | None = False,
    ) -> None:
        """
        Delete the finished jobs whose last event is older than ``max_hours`` hours:
        the succeeded ones, plus the failed, cancelled or aborted ones on request.

        :param max_hours: age threshold, in hours.
        :param queue: only delete the jobs of this queue.
        :param remove_failed: also delete failed jobs.
        :param remove_cancelled: also delete cancelled jobs.
        :param remove_aborted: also delete aborted jobs.
        :raises ValueError: ``max_hours`` is negative (it would delete every
            finished job), or not a whole number that PostgreSQL's ``integer``
            holds.
        """
        if (
            not isinstance(max_hours, int)
            or isinstance(max_hours, bool)
            or not 0 <= max_hours < 2**31
        ):
            raise ValueError(
                f"max_hours must be a whole number of hours, 0 or more, not "
                f"{max_hours!r}: e.g. max_hours=72"
            )
        await context.app.job_manager.delete_old_jobs(
            nb_hours=max_hours,
            queue=queue,
            include_failed=bool(remove_failed),
            include_cancelled=bool(remove_cancelled),
            include_aborted=bool(remove_aborted),
        )

    return builtin
