"""``procrastinate worker --metrics-port`` and ``procrastinate metrics``: real commands,
scraped over HTTP."""

from __future__ import annotations

import signal
import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil

pytest.importorskip(
    "prometheus_client", reason="install procrastinate[metrics] to test the metrics"
)


def scrape(port: int) -> str | None:
    """The metrics page, or None while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_worker_serves_its_metrics(
    workers: Workers,
    defer: Deferrer,
    db: Database,
    closed_port: int,
    wait_until: WaitUntil,
):
    worker = workers.start(
        "--metrics-port", str(closed_port), "--metrics-host", "127.0.0.1"
    )
    defer("track", {}, {})
    defer("picky", {"error": "transient"})
    wait_until(lambda: db.all_finished(3), 15, "the jobs to finish")

    def counted() -> bool:
        page = scrape(closed_port) or ""
        return (
            'procrastinate_jobs_succeeded_total{queue="default",task="tests.acceptance.app.picky"} 1.0'
            in page
        )

    wait_until(counted, 15, "the metrics to count the jobs")
    page = scrape(closed_port)
    assert page is not None
    track = 'queue="default",task="tests.acceptance.app.track"'
    picky = 'queue="default",task="tests.acceptance.app.picky"'
    assert f"procrastinate_jobs_started_total{{{track}}} 2.0" in page
    assert f"procrastinate_jobs_succeeded_total{{{track}}} 2.0" in page
    assert f"procrastinate_jobs_retried_total{{{picky}}} 1.0" in page
    assert "procrastinate_workers_alive 1.0" in page
    assert "procrastinate_database_up 1.0" in page
    assert "procrastinate_listener_reconnects_total 0.0" in page
    assert "process_resident_memory_bytes" in page
    assert worker.stop(signal.SIGINT) == 0
    assert scrape(closed_port) is None


def test_metrics_command(
    cli: Cli, defer: Deferrer, closed_port: int, wait_until: WaitUntil
):
    defer("track", {}, queue="emails")
    process = cli.popen(["metrics", "--port", str(closed_port), "--host", "127.0.0.1"])
    with process:
        try:
            wait_until(lambda: scrape(closed_port) is not None, 15, "the server")
            page = scrape(closed_port)
            assert page is not None
            assert 'procrastinate_jobs{queue="emails",status="todo"} 1.0' in page
            # The queue-level metrics only: no per-job counter, no process metrics.
            assert "procrastinate_jobs_started_total" not in page
            assert "process_resident_memory_bytes" not in page
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=15)
            assert process.returncode == 0
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["metrics", "--port", "70000"], "'70000' is not a port number"),
        (
            ["worker", "--metrics-host", "127.0.0.1"],
            "--metrics-host needs --metrics-port",
        ),
    ],
)
def test_bad_metrics_options(cli: Cli, args: list[str], message: str):
    assert message in cli(*args).error_line()


def test_metrics_port_taken(cli: Cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = cli("metrics", "--port", str(port), "--host", "127.0.0.1").error_line()
    assert f"Cannot serve the metrics on 127.0.0.1:{port}" in line
