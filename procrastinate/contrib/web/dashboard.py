"""The dashboard's pages and actions, as a Starlette application."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
import markupsafe
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import procrastinate
from procrastinate import (
    exceptions,
    jobs,
    monitoring,
    queue_operations,
    results,
    runner,
    utils,
)
from procrastinate.contrib.web import chart, security

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
# How many ids one page of jobs may look through: the bound of its cost.
SCAN_WINDOW = 100_000
# Shown for a missing value.
NOTHING = "\N{EN DASH}"
# Bounds the read of the throughput chart (see the dashboard_throughput query).
CHART_MAX_EVENTS = 200_000
STATUSES = [status.value for status in jobs.Status if status != jobs.Status.ABORTING]
FILTERS = ("queue", "task", "status", "lock")
# What an action did, by the code its redirect carries: the page never shows text
# taken from the URL.
MESSAGES = {
    "retried": "The job was sent back to its queue.",
    "cancelled": "The job was cancelled.",
    "abort_requested": "The job was asked to abort.",
    "not_retried": "The job was not retried: only failed jobs can be.",
    "not_cancelled": "The job was not cancelled: it is not waiting any more.",
    "not_aborted": "The job was not asked to abort: it is not running any more.",
    "paused": "The queue was paused: workers take none of its jobs until resumed.",
    "resumed": "The queue was resumed: its workers take its jobs again.",
    "not_paused": "The queue was paused already.",
    "not_resumed": "The queue was not paused.",
}
Handler = Callable[[Request], Awaitable[Response]]


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("procrastinate.contrib.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["age"] = format_age
    environment.filters["when"] = format_when
    environment.filters["breakable"] = breakable
    return environment


def breakable(name: str) -> markupsafe.Markup:
    """
    A dotted or snake_case name (a task's path), escaped, with a line-break
    opportunity after each dot and underscore: a narrow page wraps it between its
    parts rather than in the middle of a word.
    """
    escaped = str(markupsafe.escape(name))
    return markupsafe.Markup(re.sub(r"([._])", r"\1<wbr>", escaped))


def format_age(seconds: float | None) -> str:
    """``42 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``: how long ago, roughly."""
    if seconds is None:
        return NOTHING
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def format_when(value: Any) -> str:
    """A timestamp in UTC, to the second."""
    if value is None:
        return NOTHING
    return str(value.astimezone(utils.utcnow().tzinfo).strftime("%Y-%m-%d %H:%M:%S"))


def path_for(request: Request, name: str, **params: Any) -> URL:
    """The path of a route, under the prefix the dashboard is mounted at: links stay
    right behind a proxy that rewrites the host or the scheme."""
    return URL(request.url_for(name, **params).path)


def filters_of(request: Request) -> dict[str, str | None]:
    """
    The job filters of the query string (empty ones are absent).

    :raises HTTPException: an unknown status (400).
    """
    values = {
        name: (request.query_params.get(name) or "").strip() or None for name in FILTERS
    }
    if values["status"] is not None and values["status"] not in STATUSES:
        raise HTTPException(400, f"Unknown status; use one of {', '.join(STATUSES)}")
    return values


def page_window(
    before: int | None, first_id: int | None, last_id: int | None
) -> tuple[int, int] | None:
    """
    The ids a page of jobs is looked for in, ``(floor, before)``: at most
    :data:`SCAN_WINDOW` ids below ``before`` (below the newest job when ``None``),
    none below the oldest job. ``None`` when there is no job there.
    """
    if first_id is None or last_id is None:
        return None
    top = min(before, last_id + 1) if before is not None else last_id + 1
    if top <= first_id:
        return None
    return max(first_id, top - SCAN_WINDOW), top


def listed(queues: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """The row of the queues page of queue ``name``, added empty to ``queues``
    when missing."""
    return queues.setdefault(name, {"todo": 0, "doing": 0, "ready": 0, "oldest": None})


def positive_int(raw: str | None, what: str) -> int | None:
    """
    A positive integer from the URL.

    :raises HTTPException: not a positive integer (400).
    """
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) <= 0 or len(raw) > 18:
        raise HTTPException(400, f"{what} must be a positive integer")
    return int(raw)


class Dashboard:
    """The pages, bound to a procrastinate app (open while the dashboard serves)."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app
        self.templates = _templates()

    async def _rows(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return await self.app.connector.execute_query_all_async(
            monitoring.queries[query], **arguments
        )

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page, with the CSRF cookie set if the browser has none yet."""
        token = request.cookies.get(security.CSRF_COOKIE) or security.new_csrf_token()
        page = self.templates.get_template(template).render(
            request=request,
            url_for=functools.partial(path_for, request),
            csrf_field=security.CSRF_FIELD,
            csrf_token=token,
            version=procrastinate.__version__,
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        if request.cookies.get(security.CSRF_COOKIE) != token:
            response.set_cookie(
                security.CSRF_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                path=request.scope.get("root_path") or "/",
            )
        return response

    # Pages

    async def queues(self, request: Request) -> Response:
        """Queues with their live jobs and oldest ready job, workers, throughput."""
        snapshot = await self._rows(
            "metrics_snapshot", seconds_since_heartbeat=monitoring.alive_seconds()
        )
        queues: dict[str, dict[str, Any]] = {}
        workers_alive = 0
        for row in snapshot:
            if row["metric"] == "workers_alive":
                workers_alive = int(row["value"])
                continue
            queue = listed(queues, row["queue"])
            if row["metric"] == "jobs":
                queue[row["status"]] = int(row["value"])
            elif row["metric"] == "ready_jobs":
                queue["ready"] = int(row["value"])
            else:
                queue["oldest"] = row["value"]
        states = await self.app.job_manager.list_queue_states_async()
        for state in states:
            # A paused queue stays listed, with its button to resume it, when it has
            # no live job.
            if state.paused or state.name in queues:
                listed(queues, state.name)["paused_at"] = state.paused_at
        # A limited queue stays listed too, for its limits to be seen.
        for limit in await self.app.job_manager.list_queue_limits_async():
            listed(queues, limit.queue)["limits"] = queue_operations.limit_text(
                limit.max_running, limit.max_starts, limit.per_seconds
            )
        throughput = chart.build(
            await self._rows("dashboard_throughput", max_events=CHART_MAX_EVENTS)
        )
        return self.render(
            request,
            "queues.html",
            page="queues",
            message=MESSAGES.get(request.query_params.get("done", "")),
            queues=dict(sorted(queues.items())),
            workers_alive=workers_alive,
            chart=throughput,
        )

    async def jobs(self, request: Request) -> Response:
        """One page of jobs, newest first, filtered (see :func:`page_window`)."""
        filters = filters_of(request)
        before = positive_int(request.query_params.get("before"), "before")
        (ids,) = await self._rows("dashboard_job_ids")
        window = page_window(before, ids["first_id"], ids["last_id"])
        rows = []
        if window is not None:
            rows = await self._rows(
                "dashboard_jobs",
                before=window[1],
                floor=window[0],
                queue_name=filters["queue"],
                task_name=filters["task"],
                status=filters["status"],
                lock=filters["lock"],
                limit=PAGE_SIZE + 1,
            )
        page_jobs = [jobs.Job.from_row(row) for row in rows[:PAGE_SIZE]]
        next_before = None
        if len(rows) > PAGE_SIZE:
            next_before = page_jobs[-1].id
        elif window is not None and window[0] > ids["first_id"]:
            next_before = window[0]
        return self.render(
            request,
            "jobs.html",
            page="jobs",
            jobs=page_jobs,
            filters=filters,
            statuses=STATUSES,
            tasks=sorted(self.app.tasks),
            searched=window if len(rows) <= PAGE_SIZE else None,
            next_url=(
                self._jobs_url(request, filters, before=next_before)
                if next_before
                else None
            ),
            first_url=self._jobs_url(request, filters) if before else None,
        )

    @staticmethod
    def _jobs_url(
        request: Request, filters: dict[str, str | None], before: int | None = None
    ) -> URL:
        params = {name: value for name, value in filters.items() if value}
        if before is not None:
            params["before"] = str(before)
        return path_for(request, "jobs").include_query_params(**params)

    async def job(self, request: Request) -> Response:
        """One job: its fields, arguments and events, and the actions it allows."""
        job_id = positive_int(request.path_params["job_id"], "The job id")
        assert job_id is not None
        found = await self.app.job_manager.list_jobs_async(id=job_id)
        if not found:
            raise HTTPException(404, f"There is no job {job_id}")
        events = await self._rows("dashboard_job_events", job_id=job_id)
        outcome = await runner.run_async(
            self.app.connector, results.read_job_result(job_id)
        )
        message = MESSAGES.get(request.query_params.get("done", ""))
        return self.render(
            request,
            "job.html",
            page="jobs",
            job=found[0],
            args=json.dumps(found[0].task_kwargs, indent=2, sort_keys=True),
            events=events,
            outcome=outcome,
            value=json.dumps(outcome.value, indent=2, sort_keys=True),
            message=message,
        )

    async def workers(self, request: Request) -> Response:
        """The registered workers and their heartbeats."""
        return self.render(
            request,
            "workers.html",
            page="workers",
            workers=await self._rows("dashboard_workers"),
            alive_seconds=monitoring.alive_seconds(),
        )

    # Actions

    async def action(self, request: Request) -> Response:
        """
        Retry, cancel or abort a job (POST with the CSRF token), then show it again.

        :raises HTTPException: bad token or origin (403), unknown action (404).
        """
        job_id = positive_int(request.path_params["job_id"], "The job id")
        assert job_id is not None
        await self._check_form(request)
        name = request.path_params["action"]
        actions = {
            "retry": self._retry,
            "cancel": self._cancel,
            "abort": self._abort,
        }
        if name not in actions:
            raise HTTPException(404, f"Unknown action {name!r}")
        done = await actions[name](job_id)
        logger.info(
            f"Dashboard action {name} on job {job_id}: {done}",
            extra={"action": "dashboard_action", "job_id": job_id, "result": done},
        )
        url = path_for(request, "job", job_id=job_id).include_query_params(done=done)
        return RedirectResponse(url, status_code=303)

    async def queue_action(self, request: Request) -> Response:
        """
        Pause or resume a queue (POST with the CSRF token), then show the queues.

        :raises HTTPException: bad token or origin (403), unknown action (404), a
            name no queue can have (400).
        """
        await self._check_form(request)
        name = request.path_params["action"]
        if name not in ("pause", "resume"):
            raise HTTPException(404, f"Unknown action {name!r}")
        queue = request.path_params["queue"]
        try:
            if name == "pause":
                changed = await self.app.job_manager.pause_queue_async(queue)
                done = "paused" if changed else "not_paused"
            else:
                changed = await self.app.job_manager.resume_queue_async(queue)
                done = "resumed" if changed else "not_resumed"
        except exceptions.InvalidQueueName as exc:
            raise HTTPException(400, str(exc)) from None
        logger.info(
            f"Dashboard action {name} on queue {queue!r}: {done}",
            extra={"action": "dashboard_action", "queue": queue, "result": done},
        )
        url = path_for(request, "queues").include_query_params(done=done)
        return RedirectResponse(url, status_code=303)

    async def _check_form(self, request: Request) -> None:
        """:raises HTTPException: the form lacks the CSRF token, or comes from
        another origin (403)."""
        form = await request.form()
        submitted = form.get(security.CSRF_FIELD)
        if not security.same_origin(request.headers) or not security.csrf_ok(
            request.cookies.get(security.CSRF_COOKIE),
            submitted if isinstance(submitted, str) else None,
        ):
            raise HTTPException(
                403, "This form has expired or comes from another site: reload the page"
            )

    async def _retry(self, job_id: int) -> str:
        status = await self.app.job_manager.get_job_status_async(job_id)
        if status != jobs.Status.FAILED:
            return "not_retried"
        try:
            await self.app.job_manager.retry_job_by_id_async(job_id)
        except exceptions.ConnectorException:
            # It changed status since the check above.
            return "not_retried"
        return "retried"

    async def _cancel(self, job_id: int) -> str:
        cancelled = await self.app.job_manager.cancel_job_by_id_async(job_id)
        return "cancelled" if cancelled else "not_cancelled"

    async def _abort(self, job_id: int) -> str:
        status = await self.app.job_manager.get_job_status_async(job_id)
        if status != jobs.Status.DOING:
            return "not_aborted"
        requested = await self.app.job_manager.cancel_job_by_id_async(
            job_id, abort=True
        )
        return "abort_requested" if requested else "not_aborted"

    async def error(self, request: Request, exc: Exception) -> Response:
        """An error page (Starlette's exception handler protocol)."""
        assert isinstance(exc, HTTPException)
        return self.render(
            request,
            "error.html",
            status_code=exc.status_code,
            page="",
            status_code_text=exc.status_code,
            detail=exc.detail,
        )


def make_app(
    app: procrastinate.App, *, credential: security.Credential | None = None
) -> Starlette:
    """
    The dashboard of ``app``'s database, as an ASGI application to serve alone or
    mount in another one (``Mount("/procrastinate", make_app(app))``). ``app`` must
    be open while it serves requests.

    :param credential: require this user name and password (HTTP Basic) on every
        request. Without it, whoever reaches the address can act on jobs: serve it
        on a loopback address only, or behind your own authentication.
    """
    dashboard = Dashboard(app)
    static = StaticFiles(packages=[("procrastinate.contrib.web", "static")])
    middleware = [Middleware(security.SecurityHeaders)]
    if credential is not None:
        middleware.append(Middleware(security.BasicAuth, credential=credential))
    return Starlette(
        routes=[
            Route("/", dashboard.queues, name="queues"),
            Route("/jobs", dashboard.jobs, name="jobs"),
            Route("/jobs/{job_id}", dashboard.job, name="job"),
            Route(
                "/jobs/{job_id}/{action}",
                dashboard.action,
                methods=["POST"],
                name="action",
            ),
            Route(
                "/queues/{queue:path}/{action}",
                dashboard.queue_action,
                methods=["POST"],
                name="queue_action",
            ),
            Route("/workers", dashboard.workers, name="workers"),
            Mount("/static", app=static, name="static"),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: dashboard.error},
    )
