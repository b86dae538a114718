"""The web dashboard as an ASGI application, against a real database (requests go
through httpx's ASGI transport, on the test's event loop)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

pytest.importorskip("starlette", reason="install procrastinate[web]")
pytest.importorskip("httpx", reason="install the test group (httpx)")

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from procrastinate import app as app_module
from procrastinate.contrib.web import Credential, chart, dashboard, make_app, security

BASE = "http://dashboard.test"


def client_for(asgi: Any, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi), base_url=BASE, **kwargs
    )


@pytest.fixture
async def client(app: app_module.App) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(app)) as client:
        yield client


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def job_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/jobs/(\d+)"', page)]


async def status_of(connection: psycopg.Connection[Any], job_id: int) -> str:
    row = connection.execute(
        "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


async def test_queues_page(
    app: app_module.App, client: httpx.AsyncClient, connection: psycopg.Connection[Any]
):
    deferrer = app.configure_task("mail", allow_unknown=True, queue="emails")
    await deferrer.batch_defer_async({}, {}, {})
    await app.configure_task(
        "mail", allow_unknown=True, queue="emails", schedule_in={"hours": 1}
    ).defer_async()
    connection.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = 1")
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '150 s' "
        "WHERE job_id = 2 AND type = 'deferred'"
    )
    # Two jobs ended 5 minutes ago, one failed just now.
    connection.execute(
        "INSERT INTO procrastinate_events (job_id, type, at) VALUES "
        "(1, 'succeeded', now() - interval '5 min'), "
        "(1, 'succeeded', now() - interval '5 min'), (1, 'failed', now())"
    )
    await app.job_manager.register_worker()

    response = await client.get("/")
    assert response.status_code == 200
    page = response.text
    row = re.search(r"<tr>\s*<td><a [^>]*>emails</a></td>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([^<]*)', row.group(1))
    # Ready, scheduled, running, oldest ready job.
    assert cells == ["2", "1", "1", "2 min"]
    assert "1 worker alive" in page
    assert "2 succeeded" in page
    assert "1 failed" in page
    assert page.count('<rect class="succeeded"') == 1
    assert page.count('<rect class="failed"') == 1
    assert "highest: 2 jobs/min" in page


async def test_jobs_page_filters(app: app_module.App, client: httpx.AsyncClient):
    await app.configure_task("a", allow_unknown=True, queue="q1").defer_async()
    await app.configure_task(
        "b", allow_unknown=True, queue="q2", lock="L"
    ).defer_async()
    await app.configure_task("b", allow_unknown=True, queue="q1").defer_async()

    async def ids(**params: str) -> list[int]:
        response = await client.get("/jobs", params=params)
        assert response.status_code == 200
        return job_ids(response.text)

    assert await ids() == [3, 2, 1]
    assert await ids(queue="q1") == [3, 1]
    assert await ids(task="b") == [3, 2]
    assert await ids(lock="L") == [2]
    assert await ids(status="todo", queue="q1", task="a") == [1]
    assert await ids(status="succeeded") == []
    # Empty fields are no filter.
    assert await ids(queue="", task=" ") == [3, 2, 1]


async def test_jobs_pagination(
    app: app_module.App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    deferrer = app.configure_task("t", allow_unknown=True)
    await deferrer.batch_defer_async(*({"n": n} for n in range(120)))
    seen: list[int] = []
    url: str | None = "/jobs"
    pages = 0
    while url:
        response = await client.get(url)
        page = response.text
        seen += job_ids(page)
        pages += 1
        match = re.search(r'href="([^"]+)" rel="next"', page)
        url = match.group(1).replace("&amp;", "&") if match else None
        if pages > 1:
            assert 'rel="first"' in page
    assert pages == 3
    assert seen == list(range(120, 0, -1))

    # A filter few jobs match: each page looks through a bounded window of ids, and
    # says so; the next page goes on below it.
    monkeypatch.setattr(dashboard, "SCAN_WINDOW", 50)
    response = await client.get("/jobs", params={"task": "t", "status": "todo"})
    assert job_ids(response.text) == list(range(120, 70, -1))
    assert "Searched jobs 71 to 120: older jobs are searched on the next page." in (
        response.text
    )
    response = await client.get("/jobs", params={"task": "t", "before": "21"})
    assert job_ids(response.text) == list(range(20, 0, -1))
    assert 'rel="next"' not in response.text


async def test_job_page(
    app: app_module.App, client: httpx.AsyncClient, connection: psycopg.Connection[Any]
):
    job_id = await app.configure_task(
        "t", allow_unknown=True, queue="q", lock="L", queueing_lock="QL"
    ).defer_async(user="<script>alert(1)</script>", n=3)
    connection.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,)
    )
    connection.execute(
        "UPDATE procrastinate_jobs SET status = 'failed', attempts = 1 WHERE id = %s",
        (job_id,),
    )
    response = await client.get(f"/jobs/{job_id}")
    page = response.text
    assert response.status_code == 200
    assert '<span class="status failed">failed</span>' in page
    assert "&#34;n&#34;: 3" in page
    # Arguments are escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert re.findall(r'<span class="event (\w+)">', page) == [
        "deferred",
        "started",
        "failed",
    ]
    assert "The job failed after 1 attempt:" in page
    assert "/retry" in page
    assert "/cancel" not in page
    assert "/abort" not in page


async def test_actions(
    app: app_module.App, client: httpx.AsyncClient, connection: psycopg.Connection[Any]
):
    deferrer = app.configure_task("t", allow_unknown=True)
    failed, waiting, running = await deferrer.batch_defer_async({}, {}, {})
    connection.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id IN (%s, %s)",
        (failed, running),
    )
    connection.execute(
        "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", (failed,)
    )
    token = csrf_token((await client.get(f"/jobs/{failed}")).text)

    async def act(job_id: int, action: str) -> httpx.Response:
        response = await client.post(
            f"/jobs/{job_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 303
        return await client.get(response.headers["location"])

    assert "The job was sent back to its queue." in (await act(failed, "retry")).text
    assert await status_of(connection, failed) == "todo"
    assert "only failed jobs can be" in (await act(failed, "retry")).text
    assert "The job was cancelled." in (await act(waiting, "cancel")).text
    assert await status_of(connection, waiting) == "cancelled"
    assert "it is not waiting any more" in (await act(waiting, "cancel")).text
    assert "The job was asked to abort." in (await act(running, "abort")).text
    abort = connection.execute(
        "SELECT abort_requested FROM procrastinate_jobs WHERE id = %s", (running,)
    ).fetchone()
    assert abort == (True,)
    assert "not running any more" in (await act(waiting, "abort")).text


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({}, {}),
        ({"csrf_token": "forged"}, {}),
        (None, {"origin": "https://evil.example"}),
    ],
)
async def test_actions_need_the_csrf_token_and_the_same_origin(
    app: app_module.App,
    client: httpx.AsyncClient,
    connection: psycopg.Connection[Any],
    data: dict[str, str] | None,
    headers: dict[str, str],
):
    job_id = await app.configure_task("t", allow_unknown=True).defer_async()
    token = csrf_token((await client.get(f"/jobs/{job_id}")).text)
    response = await client.post(
        f"/jobs/{job_id}/cancel",
        data={"csrf_token": token} if data is None else data,
        headers=headers,
    )
    assert response.status_code == 403
    assert "reload the page" in response.text
    assert await status_of(connection, job_id) == "todo"


async def test_csrf_cookie(client: httpx.AsyncClient):
    response = await client.get("/jobs")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{security.CSRF_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    # Once set, the cookie is kept: forms of other tabs stay valid.
    assert "set-cookie" not in (await client.get("/")).headers


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("/jobs?status=bogus", 400, "Unknown status"),
        ("/jobs?before=abc", 400, "before must be a positive integer"),
        ("/jobs/0", 400, "The job id must be a positive integer"),
        ("/jobs/999", 404, "There is no job 999"),
        ("/nowhere", 404, "Not Found"),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, url: str, status: int, text: str
):
    response = await client.get(url)
    assert response.status_code == status
    assert text in response.text
    assert "Traceback" not in response.text


async def test_unknown_action(app: app_module.App, client: httpx.AsyncClient):
    job_id = await app.configure_task("t", allow_unknown=True).defer_async()
    token = csrf_token((await client.get(f"/jobs/{job_id}")).text)
    response = await client.post(f"/jobs/{job_id}/delete", data={"csrf_token": token})
    assert response.status_code == 404


async def test_workers_page(app: app_module.App, client: httpx.AsyncClient, connection):
    alive = await app.job_manager.register_worker()
    silent = await app.job_manager.register_worker()
    connection.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '2 hours' "
        "WHERE id = %s",
        (silent,),
    )
    await app.configure_task("t", allow_unknown=True).defer_async()
    await app.job_manager.fetch_job(queues=None, worker_id=alive)
    page = (await client.get("/workers")).text
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]
    assert len(rows) == 2
    assert "alive" in rows[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', rows[0])[-1] == "1"
    assert "silent" in rows[1]
    assert "2 h 0 min" in rows[1]


async def test_headers_and_no_connection_details(
    app: app_module.App, client: httpx.AsyncClient, db_name: str
):
    job_id = await app.configure_task("t", allow_unknown=True).defer_async()
    for url in ("/", "/jobs", f"/jobs/{job_id}", "/workers", "/jobs/99"):
        response = await client.get(url)
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert db_name not in response.text


async def test_static_files(client: httpx.AsyncClient):
    css = await client.get("/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/favicon.svg")).status_code == 200


async def test_credential(app: app_module.App):
    asgi = make_app(app, credential=Credential("admin", "s3cret"))

    def basic(user: str, password: str) -> dict[str, str]:
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"authorization": f"Basic {encoded}"}

    async with client_for(asgi) as client:
        refused = await client.get("/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert (await client.get("/static/dashboard.css")).status_code == 401
        assert (
            await client.get("/", headers=basic("admin", "wrong"))
        ).status_code == 401
        assert (
            await client.get("/", headers=basic("other", "s3cret"))
        ).status_code == 401
        bad_header = {"authorization": "Basic %%%"}
        assert (await client.get("/", headers=bad_header)).status_code == 401
        assert (
            await client.get("/", headers=basic("admin", "s3cret"))
        ).status_code == 200


async def test_mounted_in_another_app(app: app_module.App):
    job_id = await app.configure_task("t", allow_unknown=True).defer_async()
    outer = Starlette(routes=[Mount("/ops/queue", app=make_app(app))])
    async with client_for(outer) as client:
        page = (await client.get("/ops/queue/jobs")).text
        assert f'href="/ops/queue/jobs/{job_id}"' in page
        assert 'href="/ops/queue/static/dashboard.css"' in page
        assert (await client.get("/ops/queue/static/dashboard.css")).status_code == 200
        token = csrf_token((await client.get(f"/ops/queue/jobs/{job_id}")).text)
        cookie = client.cookies.jar
        assert [c.path for c in cookie] == ["/ops/queue"]
        response = await client.post(
            f"/ops/queue/jobs/{job_id}/cancel", data={"csrf_token": token}
        )
        assert (
            response.headers["location"] == f"/ops/queue/jobs/{job_id}?done=cancelled"
        )


def test_credential_parse():
    assert Credential.parse("admin:a:b") == Credential("admin", "a:b")
    for raw in ("admin", ":pw", "admin:"):
        with pytest.raises(ValueError, match="must be user:password") as error:
            Credential.parse(raw)
        assert "pw" not in str(error.value)
    assert "s3cret" not in repr(Credential("admin", "s3cret"))


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("192.168.1.10", True),
        ("example.org", True),
    ],
)
def test_check_exposure(host: str, exposed: bool):
    if exposed:
        with pytest.raises(ValueError, match="needs a credential"):
            security.check_exposure(host, None)
    else:
        security.check_exposure(host, None)
    security.check_exposure(host, Credential("a", "b"))


@pytest.mark.parametrize(
    ("before", "first", "last", "window"),
    [
        (None, None, None, None),
        (None, 1, 10, (1, 11)),
        (5, 1, 10, (1, 5)),
        (1, 1, 10, None),
        (500, 1, 10, (1, 11)),
        (None, 1, 250_000, (150_001, 250_001)),
    ],
)
def test_page_window(
    before: int | None,
    first: int | None,
    last: int | None,
    window: tuple[int, int] | None,
):
    assert dashboard.page_window(before, first, last) == window


def test_chart_build():
    built = chart.build(
        [
            {"minute": 0, "type": "succeeded", "jobs": 4},
            {"minute": 0, "type": "failed", "jobs": 4},
            {"minute": 59, "type": "deferred_for_retry", "jobs": 2},
            {"minute": -1, "type": "covered_seconds", "jobs": 1200},
        ]
    )
    assert built.maximum == 8
    assert built.total == {"succeeded": 4, "retried": 2, "failed": 4, "aborted": 0}
    assert built.covered_minutes == 20
    succeeded, failed, retried = built.bars
    # The current minute is on the right, stacked bottom up; the full height is 8.
    assert (succeeded.x, succeeded.y, succeeded.height) == (590.0, 80.0, 80.0)
    assert (failed.y, failed.height) == (0.0, 80.0)
    assert (retried.x, retried.height) == (0.0, 40.0)
    assert chart.build([]).bars == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "\N{EN DASH}"),
        (5.9, "5 s"),
        (61, "1 min"),
        (3700, "1 h 1 min"),
        (90000, "1 d 1 h"),
    ],
)
def test_format_age(seconds: float | None, text: str):
    assert dashboard.format_age(seconds) == text


async def test_pause_and_resume_a_queue(
    app: app_module.App, client: httpx.AsyncClient, connection: psycopg.Connection[Any]
):
    await app.configure_task("t", allow_unknown=True, queue="emails").defer_async()
    page = (await client.get("/")).text
    assert 'action="/queues/emails/pause"' in page
    assert "Paused</span>" not in page
    token = csrf_token(page)

    async def act(queue: str, action: str) -> str:
        response = await client.post(
            f"/queues/{queue}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 303
        return (await client.get(response.headers["location"])).text

    paused = await act("emails", "pause")
    assert "The queue was paused" in paused
    assert "Paused</span>" in paused
    assert 'action="/queues/emails/resume"' in paused
    row = connection.execute(
        "SELECT paused FROM procrastinate_queues WHERE queue_name = 'emails'"
    ).fetchone()
    assert row == (True,)
    assert "The queue was paused already." in await act("emails", "pause")
    # A paused queue without any live job stays listed, to be resumed.
    empty = await act("idle", "pause")
    assert 'action="/queues/idle/resume"' in empty
    resumed = await act("emails", "resume")
    assert "The queue was resumed" in resumed
    assert 'action="/queues/emails/pause"' in resumed
    assert "The queue was not paused." in await act("emails", "resume")


async def test_the_queues_page_shows_the_limits(
    app: app_module.App, client: httpx.AsyncClient
):
    await app.configure_task("t", allow_unknown=True, queue="emails").defer_async()
    await app.job_manager.set_queue_limit_async("emails", max_running=2)
    # A limited queue without any live job stays listed, its limits shown.
    await app.job_manager.set_queue_limit_async("api", max_starts=10, per=60)

    page = (await client.get("/")).text

    assert "at most 2 running</span>" in page
    assert "at most 10 starts per 60 s</span>" in page
    assert 'action="/queues/api/pause"' in page


async def test_queue_actions_need_the_csrf_token(
    app: app_module.App, client: httpx.AsyncClient, connection: psycopg.Connection[Any]
):
    await app.configure_task("t", allow_unknown=True, queue="emails").defer_async()
    response = await client.post("/queues/emails/pause", data={"csrf_token": "forged"})
    assert response.status_code == 403
    token = csrf_token((await client.get("/")).text)
    unknown = await client.post("/queues/emails/stop", data={"csrf_token": token})
    assert unknown.status_code == 404
    too_long = await client.post(
        f"/queues/{'q' * 129}/pause", data={"csrf_token": token}
    )
    assert too_long.status_code == 400
    assert connection.execute("SELECT * FROM procrastinate_queues").fetchall() == []


def test_breakable_task_names():
    assert str(dashboard.breakable("my_app.tasks.<b>")) == (
        "my_<wbr>app.<wbr>tasks.<wbr>&lt;b&gt;"
    )
