"""The dashboard in a real browser: Debian's Chromium driven by Playwright's Python
package (``executable_path``: Playwright's own browser builds are never downloaded),
against the real ``procrastinate web`` command.

Like the docs browser tests, these need the ``chromium`` executable (``apt-get install
chromium``), or ``PROCRASTINATE_SKIP_BROWSER_TESTS=1`` to skip them. Screenshots at
desktop and phone widths go to a temporary directory, or to
``$PROCRASTINATE_WEB_SCREENSHOTS`` when set, to be looked at by a human; never into the
repository (``scripts/dashboard-screenshots`` makes the docs' illustrations of them).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("starlette", reason="install procrastinate[web]")
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="install the test group (playwright)"
)

from tests.docs.test_browser import browser  # noqa: E402, F401

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil

pytestmark = pytest.mark.browser

CREDENTIAL = "admin:browser-test"
# Read at import: the acceptance fixtures clear PROCRASTINATE_* variables.
SCREENSHOTS = os.environ.get("PROCRASTINATE_WEB_SCREENSHOTS")
VIEWPORTS = {"desktop": (1280, 860), "phone": (390, 844)}


@pytest.fixture(scope="module")
def chromium(browser: str) -> Iterator[Any]:  # noqa: F811
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=browser, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if not SCREENSHOTS:
        return tmp_path
    path = Path(SCREENSHOTS)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def dashboard(
    cli: Cli, db_env: dict[str, str], wait_until: WaitUntil
) -> Iterator[Callable[..., str]]:
    """Start ``procrastinate web`` (with the credential or not); returns its URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(credential: bool = True) -> str:
        port = free_port()
        env = {**db_env}
        if credential:
            env["PROCRASTINATE_WEB_CREDENTIAL"] = CREDENTIAL
        process = cli.popen(["web", "--port", str(port)], env=env)
        started.append(process)
        wait_until(
            lambda: listening(port) or process.poll() is not None, 15, "the dashboard"
        )
        assert process.poll() is None, process.communicate()
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.kill()
        process.communicate()


@pytest.fixture
def busy_database(
    cli: Cli, defer: Deferrer, db: Database, workers: Workers, wait_until: WaitUntil
) -> Database:
    """Jobs of every kind, run by real workers: succeeded, retried, failed, waiting,
    scheduled, and one running on a worker that stays up; enough for two pages."""
    defer("track", *({} for _ in range(60)))
    defer("add", {"a": 1, "b": 2}, queue="maths")
    defer("picky", {"error": "transient"}, queue="emails")
    defer("picky", {"error": "permanent"}, queue="emails")
    cli("worker", "--one-shot", "--queues", "default,maths,emails").check()
    defer("track", {}, queue="reports", schedule_in={"hours": 1})
    defer("track", {}, queue="emails", lock="user-42")
    workers.start("--queues", "reports", "--abort-job-polling-interval", "0.2")
    (running,) = defer("track", {"sleep": 120}, queue="reports")
    wait_until(lambda: db.job(running)["status"] == "doing", 15, "the job to start")
    return db


@pytest.fixture
def showcase_database(
    busy_database: Database,
    cli: Cli,
    defer: Deferrer,
    workers: Workers,
    wait_until: WaitUntil,
) -> Database:
    """The busy database with what an operator also meets (the screenshots of the
    docs show it): a paused queue, limited queues, a cancelled and an aborted job,
    two workers, and ended jobs spread over the last hour."""
    db = busy_database
    manager = defer.app.job_manager
    cli("queue", "pause", "invoices").check()
    defer("track", *({} for _ in range(3)), queue="invoices")
    cli("queue", "limit", "emails", "--max-running=2").check()
    cli("queue", "limit", "api", "--max-starts=10", "--per=60").check()
    (cancelled,) = defer("track", {}, queue="emails")
    manager.cancel_job_by_id(cancelled)
    (aborted,) = (job["id"] for job in db.jobs() if job["status"] == "doing")
    manager.cancel_job_by_id(aborted, abort=True)
    wait_until(lambda: db.job(aborted)["status"] == "aborted", 15, "the abort")
    (running,) = defer("track", {"sleep": 120}, queue="reports")
    wait_until(lambda: db.job(running)["status"] == "doing", 15, "the job to start")
    workers.start("--queues", "invoices")
    # The one-shot worker ended its jobs within a second: spread them over the hour.
    db.rows(
        "UPDATE procrastinate_events SET at = at - (job_id %% 50) * interval '1 minute'"
        " WHERE job_id <= %(last)s RETURNING id",
        last=min(cancelled, aborted) - 1,
    )
    return db


class Console:
    """The console errors and failed requests of a page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "response",
            lambda response: (
                self.problems.append(f"HTTP {response.status} for {response.url}")
                if response.status >= 400
                else None
            ),
        )


def new_page(
    chromium: Any, viewport: str = "desktop", **options: Any
) -> tuple[Any, Console]:
    width, height = VIEWPORTS[viewport]
    context = chromium.new_context(
        viewport={"width": width, "height": height},
        http_credentials=dict(
            zip(("username", "password"), CREDENTIAL.split(":"), strict=True)
        ),
        **options,
    )
    page = context.new_page()
    return page, Console(page)


def follow(page: Any, action: Callable[[], None]) -> None:
    """Do what leaves the page (a click on a link, Enter in a form) and wait until the
    next page has loaded: reading it before would read the old one."""
    with page.expect_navigation():
        action()


def ids_on(page: Any) -> list[int]:
    return [int(text) for text in page.locator("table.jobs td.num a").all_inner_texts()]


def test_pages_load_without_errors_and_screenshots(
    chromium: Any,
    dashboard: Callable[..., str],
    showcase_database: Database,
    screenshots: Path,
):
    url = dashboard()
    jobs = showcase_database.jobs()
    failed_job = next(job["id"] for job in jobs if job["status"] == "failed")
    running_job = next(job["id"] for job in jobs if job["status"] == "doing")
    result_job = next(job["id"] for job in jobs if job["queue_name"] == "maths")
    assert {job["status"] for job in jobs} == {
        "todo",
        "doing",
        "succeeded",
        "failed",
        "cancelled",
        "aborted",
    }
    for viewport in VIEWPORTS:
        page, console = new_page(chromium, viewport)
        for name, path in [
            ("queues", "/"),
            ("jobs", "/jobs"),
            ("job", f"/jobs/{failed_job}"),
            ("result-job", f"/jobs/{result_job}"),
            ("running-job", f"/jobs/{running_job}"),
            ("workers", "/workers"),
        ]:
            response = page.goto(url + path)
            assert response is not None
            assert response.status == 200
            page.screenshot(path=screenshots / f"{name}-{viewport}.png", full_page=True)
            if name == "queues":
                states = page.locator("td.state").all_inner_texts()
                assert "at most 2 running" in states[1]
                assert "Paused" in states[2]
            # Nothing sticks out of a phone's screen but the tables, which scroll.
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} is {overflow} px too wide at {viewport}"
        assert console.problems == []
        page.context.close()


def test_queues_page_shows_the_queues_and_the_chart(
    chromium: Any, dashboard: Callable[..., str], busy_database: Database
):
    page, console = new_page(chromium)
    page.goto(dashboard())
    queues = page.locator("tbody tr td:first-child").all_inner_texts()
    assert queues == ["emails", "reports"]
    # Ready, scheduled, running.
    reports = page.locator("tbody tr").nth(1).locator("td.num").all_inner_texts()
    assert reports[:3] == ["0", "1", "1"]
    assert "1 worker alive" in page.locator("p.summary").first.inner_text()
    # The one-shot worker ended 60 track jobs, the add job and the two picky ones:
    # the transient one after a retry, the permanent one with a failure.
    summary = page.locator("p.summary").nth(1).inner_text()
    assert "62 succeeded" in summary
    assert "1 retried" in summary
    assert "1 failed" in summary
    assert page.locator("svg rect.succeeded").count() >= 1
    follow(page, page.get_by_role("link", name="emails").first.click)
    assert re.search(r"/jobs\?queue=emails$", page.url)
    assert console.problems == []


def test_filters_and_pagination(
    chromium: Any, dashboard: Callable[..., str], busy_database: Database
):
    page, console = new_page(chromium)
    page.goto(dashboard() + "/jobs")
    first_page = ids_on(page)
    assert len(first_page) == 50
    assert first_page == sorted(first_page, reverse=True)
    follow(page, page.get_by_role("link", name="Older").click)
    second_page = ids_on(page)
    assert second_page[0] == first_page[-1] - 1
    assert len(first_page) + len(second_page) == busy_database.count_jobs()
    assert page.get_by_role("link", name="Older").count() == 0
    follow(page, page.get_by_role("link", name="Newest").click)
    assert ids_on(page) == first_page

    page.get_by_label("Queue").fill("emails")
    page.get_by_label("Status").select_option("failed")
    follow(page, page.get_by_role("button", name="Filter").click)
    assert "queue=emails" in page.url
    assert "status=failed" in page.url
    rows = page.locator("table.jobs tbody tr").all_inner_texts()
    assert len(rows) == 1
    assert "picky" in rows[0]
    assert "failed" in rows[0]

    follow(page, page.get_by_role("link", name="Reset").click)
    page.get_by_label("Lock").fill("user-42")
    follow(page, lambda: page.get_by_label("Lock").press("Enter"))
    assert [
        row["lock"] for row in busy_database.jobs() if row["id"] in ids_on(page)
    ] == ["user-42"]
    assert console.problems == []


def test_actions_change_the_job_in_the_database(
    chromium: Any,
    dashboard: Callable[..., str],
    busy_database: Database,
    wait_until: WaitUntil,
):
    jobs = busy_database.jobs()
    failed = next(job["id"] for job in jobs if job["status"] == "failed")
    waiting = next(job["id"] for job in jobs if job["lock"] == "user-42")
    url = dashboard()
    page, console = new_page(chromium)

    page.goto(f"{url}/jobs/{failed}")
    page.get_by_role("button", name="Retry").click()
    assert (
        page.get_by_role("status").inner_text() == "The job was sent back to its queue."
    )
    assert busy_database.job(failed)["status"] == "todo"
    assert page.get_by_role("button", name="Retry").count() == 0

    page.goto(f"{url}/jobs/{waiting}")
    page.get_by_role("button", name="Cancel").click()
    assert page.get_by_role("status").inner_text() == "The job was cancelled."
    assert busy_database.job(waiting)["status"] == "cancelled"

    running = next(
        job["id"] for job in busy_database.jobs() if job["status"] == "doing"
    )
    page.goto(f"{url}/jobs/{running}")
    page.get_by_role("button", name="Abort").click()
    assert page.get_by_role("status").inner_text() == "The job was asked to abort."
    # The worker sees the request and stops the job.
    wait_until(
        lambda: busy_database.job(running)["status"] == "aborted", 15, "the abort"
    )
    page.reload()
    assert page.locator("h1 .status").inner_text() == "aborted"
    assert console.problems == []


def test_a_request_without_the_credential_is_refused(
    chromium: Any, dashboard: Callable[..., str], busy_database: Database
):
    url = dashboard()
    anonymous = chromium.new_context()
    # Chromium turns a refused navigation into an error page of its own.
    with pytest.raises(playwright_sync.Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
        anonymous.new_page().goto(url + "/jobs")
    # The same request, from the context, shows what the server answered.
    response = anonymous.request.get(url + "/jobs")
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert "needs a user name and password" in response.text()
    anonymous.close()
    wrong = chromium.new_context(
        http_credentials={"username": "admin", "password": "wrong"}
    )
    assert wrong.request.get(url + "/").status == 401
    wrong.close()


def test_pause_and_resume_a_queue_with_the_buttons(
    chromium: Any, dashboard: Callable[..., str], busy_database: Database
):
    page, console = new_page(chromium)
    page.goto(dashboard())
    emails = page.locator("tbody tr").first
    follow(page, emails.get_by_role("button", name="Pause").click)
    assert page.get_by_role("status").inner_text().startswith("The queue was paused")
    emails = page.locator("tbody tr").first
    assert emails.locator(".badge.paused").inner_text() == "Paused"
    assert busy_database.rows(
        "SELECT queue_name, paused FROM procrastinate_queues"
    ) == [{"queue_name": "emails", "paused": True}]
    follow(page, emails.get_by_role("button", name="Resume").click)
    assert page.get_by_role("status").inner_text().startswith("The queue was resumed")
    assert page.locator(".badge.paused").count() == 0
    assert busy_database.rows("SELECT paused FROM procrastinate_queues") == [
        {"paused": False}
    ]
    assert console.problems == []


def test_a_long_task_name_wraps_between_its_parts_on_a_phone(
    chromium: Any, dashboard: Callable[..., str], db: Database, screenshots: Path
):
    name = "tests.acceptance.a_rather_long_module_name.with_a_task_function_name_longer"
    (row,) = db.rows(
        "INSERT INTO procrastinate_jobs (queue_name, task_name) "
        "VALUES ('default', %(name)s) RETURNING id",
        name=name,
    )
    page, console = new_page(chromium, "phone")
    page.goto(f"{dashboard()}/jobs/{row['id']}")
    page.screenshot(path=screenshots / "long-task-phone.png", full_page=True)
    task = page.locator("dd.task")
    assert task.inner_text().replace("\n", "") == name
    # Each part between the break opportunities (<wbr>) is a text node: none is
    # broken over two lines, and the name does take several lines.
    lines_per_part = task.evaluate(
        """dd => Array.from(dd.childNodes)
            .filter(node => node.nodeType === Node.TEXT_NODE)
            .map(node => {
                const range = document.createRange();
                range.selectNodeContents(node);
                return new Set(Array.from(range.getClientRects(), r => r.top)).size;
            })"""
    )
    assert set(lines_per_part) == {1}
    assert task.evaluate("dd => dd.getClientRects()[0].height") > 40
    assert console.problems == []
