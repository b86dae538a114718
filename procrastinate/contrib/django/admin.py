"""The admin of procrastinate's jobs: browse them with their events, and retry,
cancel or abort them.

Pages are read-only: the actions go through the app's job manager, which runs
procrastinate's SQL functions, never through the models. Running an action needs the
"change" permission on jobs; viewing needs "view".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import html, safestring

from procrastinate import jobs, manager, utils
from procrastinate.contrib.django import models, procrastinate_app, settings

if TYPE_CHECKING:
    _EventInline = admin.TabularInline[
        models.ProcrastinateEvent, models.ProcrastinateJob
    ]
    _JobAdmin = admin.ModelAdmin[models.ProcrastinateJob]
else:
    # The admin classes are generic for type checkers only.
    _EventInline = admin.TabularInline
    _JobAdmin = admin.ModelAdmin

STATUS_EMOJIS = {
    jobs.Status.TODO.value: "🗓️",
    jobs.Status.DOING.value: "🚂",
    jobs.Status.SUCCEEDED.value: "✅",
    jobs.Status.FAILED.value: "❌",
    jobs.Status.CANCELLED.value: "🚫",
    jobs.Status.ABORTING.value: "🛑",
    jobs.Status.ABORTED.value: "🛑",
}

RETRYABLE = [jobs.Status.FAILED.value, jobs.Status.DOING.value]
CANCELLABLE = [jobs.Status.TODO.value]
ABORTABLE = [jobs.Status.TODO.value, jobs.Status.DOING.value]


def pretty_json(value: Any) -> str:
    """A JSON value, indented, keys sorted, as a page shows it."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def job_manager() -> manager.JobManager:
    """The job manager of the project's app (looked up at each call: the app may
    have its connector replaced, e.g. in tests)."""
    return procrastinate_app.current_app.job_manager


class ReadOnlyAdminMixin:
    """No adding, deleting or editing through the admin: pages are views."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProcrastinateEventInline(ReadOnlyAdminMixin, _EventInline):
    """The events of a job, newest first."""

    model = models.ProcrastinateEvent
    fields = ("type", "at")
    readonly_fields = ("type", "at")
    ordering = ("-at", "-id")
    extra = 0
    can_delete = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.ProcrastinateJob)
class ProcrastinateJobAdmin(ReadOnlyAdminMixin, _JobAdmin):
    """Jobs: list, filters, search, detail with events, and actions."""

    list_display = (
        "id",
        "task_name",
        "status_label",
        "queue_name",
        "priority",
        "scheduled_at",
        "attempts",
        "worker",
    )
    list_filter = (
        "status",
        "queue_name",
        "task_name",
        "lock",
        "queueing_lock",
        "priority",
    )
    list_select_related = ("worker",)
    search_fields = ("task_name", "queue_name", "lock", "queueing_lock")
    ordering = ("-id",)
    fields = (
        "id",
        "task_name",
        "status_label",
        "queue_name",
        "priority",
        "lock",
        "queueing_lock",
        "pretty_args",
        "scheduled_at",
        "attempts",
        "abort_requested",
        "worker",
        "pretty_result",
        "pretty_error",
        "dashboard",
    )
    readonly_fields = fields
    inlines = [ProcrastinateEventInline]
    actions = ["retry", "cancel", "abort", "pause_queues", "resume_queues"]
    change_list_template = "procrastinate/admin/job_change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        """The list of jobs, with a link to the web dashboard when it is set up."""
        context = {
            "dashboard_url": settings.settings.dashboard_url,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    @admin.display(description="Dashboard")
    def dashboard(self, job: models.ProcrastinateJob) -> str:
        """A link to the job in the web dashboard, when it is set up."""
        url = settings.settings.dashboard_url
        if url is None:
            return "-"
        return html.format_html(
            '<a href="{}jobs/{}">View in the dashboard</a>', url, job.id
        )

    def has_change_permission(
        self, request: HttpRequest, obj: models.ProcrastinateJob | None = None
    ) -> bool:
        # Without an object, Django asks whether actions are allowed: they need the
        # change permission. With one, it asks about the edit form: there is none.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    @admin.display(description="Status", ordering="status")
    def status_label(self, job: models.ProcrastinateJob) -> str:
        """The status, with an emoji to spot it in a long list."""
        return f"{STATUS_EMOJIS.get(job.status, '')} {job.status}".strip()

    @admin.display(description="Args")
    def pretty_args(self, job: models.ProcrastinateJob) -> safestring.SafeString:
        """The arguments as indented JSON."""
        return html.format_html("<pre>{}</pre>", pretty_json(job.args))

    @admin.display(description="Result")
    def pretty_result(self, job: models.ProcrastinateJob) -> str:
        """What the task returned, as indented JSON, or why it was not stored."""
        stored = job.result
        if not isinstance(stored, dict):
            return "-"
        if "refused" in stored:
            return f"Not stored: {stored['refused']}"
        return html.format_html("<pre>{}</pre>", pretty_json(stored.get("value")))

    @admin.display(description="Error")
    def pretty_error(self, job: models.ProcrastinateJob) -> str:
        """What the last failed attempt raised: its class, message and traceback."""
        error = job.error
        if not isinstance(error, dict):
            return "-"
        return html.format_html(
            "<strong>{}</strong>: {}<pre>{}</pre>",
            error.get("type", ""),
            error.get("message", ""),
            error.get("traceback", ""),
        )

    def _report(
        self, request: HttpRequest, done: int, total: int, verb: str, allowed: str
    ) -> None:
        self.message_user(request, f"{done} job(s) {verb}.", messages.SUCCESS)
        if done < total:
            self.message_user(
                request,
                f"{total - done} job(s) skipped: only {allowed} jobs can be {verb}.",
                messages.WARNING,
            )

    @admin.action(description="Retry the selected jobs now", permissions=["change"])
    def retry(
        self, request: HttpRequest, queryset: QuerySet[models.ProcrastinateJob]
    ) -> None:
        """Send failed or running jobs back to their queue, to run now, keeping their
        priority, queue and lock."""
        selected = list(queryset)
        retryable = [job for job in selected if job.status in RETRYABLE]
        job_manager_ = job_manager()
        for job in retryable:
            job_manager_.retry_job_by_id(
                job.id, utils.utcnow(), job.priority, job.queue_name, job.lock
            )
        self._report(
            request, len(retryable), len(selected), "retried", "failed or doing"
        )

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel(
        self, request: HttpRequest, queryset: QuerySet[models.ProcrastinateJob]
    ) -> None:
        """Cancel waiting jobs."""
        self._cancel_jobs(request, queryset, abort=False)

    @admin.action(description="Abort the selected jobs", permissions=["change"])
    def abort(
        self, request: HttpRequest, queryset: QuerySet[models.ProcrastinateJob]
    ) -> None:
        """Cancel waiting jobs and ask the workers running the others to stop them."""
        self._cancel_jobs(request, queryset, abort=True)

    def _cancel_jobs(
        self,
        request: HttpRequest,
        queryset: QuerySet[models.ProcrastinateJob],
        abort: bool,
    ) -> None:
        selected = list(queryset)
        job_manager_ = job_manager()
        done = sum(
            bool(job_manager_.cancel_job_by_id(job.id, abort=abort))
            for job in selected
            if job.status in (ABORTABLE if abort else CANCELLABLE)
        )
        if abort:
            self._report(request, done, len(selected), "aborted", "todo or doing")
        else:
            self._report(request, done, len(selected), "cancelled", "todo")

    @admin.action(
        description="Pause the queues of the selected jobs", permissions=["change"]
    )
    def pause_queues(
        self, request: HttpRequest, queryset: QuerySet[models.ProcrastinateJob]
    ) -> None:
        """Pause the queues of the selected jobs: no worker takes their jobs until
        they are resumed; running jobs finish."""
        self._set_queues_paused(request, queryset, pause=True)

    @admin.action(
        description="Resume the queues of the selected jobs", permissions=["change"]
    )
    def resume_queues(
        self, request: HttpRequest, queryset: QuerySet[models.ProcrastinateJob]
    ) -> None:
        """Resume the queues of the selected jobs: their workers fetch at once."""
        self._set_queues_paused(request, queryset, pause=False)

    def _set_queues_paused(
        self,
        request: HttpRequest,
        queryset: QuerySet[models.ProcrastinateJob],
        *,
        pause: bool,
    ) -> None:
        queues = sorted({job.queue_name for job in queryset})
        job_manager_ = job_manager()
        change = job_manager_.pause_queue if pause else job_manager_.resume_queue
        changed = [queue for queue in queues if change(queue)]
        verb = "paused" if pause else "resumed"
        if changed:
            self.message_user(
                request, f"Queue(s) {verb}: {', '.join(changed)}.", messages.SUCCESS
            )
        unchanged = [queue for queue in queues if queue not in changed]
        if unchanged:
            self.message_user(
                request,
                f"Queue(s) {'paused already' if pause else 'not paused'}: "
                f"{', '.join(unchanged)}.",
                messages.INFO,
            )
