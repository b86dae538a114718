"""``procrastinate web``: the real command, over HTTP."""

from __future__ import annotations

import base64
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.jobs import Deferrer
    from tests.support.waiting import WaitUntil

pytest.importorskip("starlette", reason="install procrastinate[web]")

CREDENTIAL = "PROCRASTINATE_WEB_CREDENTIAL"


def get(url: str, credential: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if credential:
        encoded = base64.b64encode(credential.encode()).decode()
        request.add_header("Authorization", f"Basic {encoded}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def serve(cli: Cli, wait_until: WaitUntil) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        port: int, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = cli.popen(["web", "--port", str(port), *args], env=env)
        started.append(process)
        wait_until(
            lambda: listening(port) or process.poll() is not None, 15, "the server"
        )
        assert process.poll() is None, process.communicate()
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_web_serves_the_dashboard(
    serve: object, defer: Deferrer, closed_port: int, db_env: dict[str, str]
):
    job_id = defer("track", {}, queue="emails")[0]
    process = serve(closed_port)  # type: ignore[operator]
    status, page = get(f"http://127.0.0.1:{closed_port}/jobs")
    assert status == 200
    assert f'href="/jobs/{job_id}"' in page
    status, page = get(f"http://127.0.0.1:{closed_port}/")
    assert ">emails</a>" in page
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert (
        f"Serving the dashboard on http://127.0.0.1:{closed_port}/" in stderr.decode()
    )
    assert "Traceback" not in stderr.decode()


def test_web_with_a_credential(serve: object, closed_port: int, db_env: dict[str, str]):
    env = {**db_env, CREDENTIAL: "admin:s3cret"}
    process = serve(closed_port, "--host", "0.0.0.0", env=env)  # type: ignore[operator]
    url = f"http://127.0.0.1:{closed_port}/"
    assert get(url)[0] == 401
    assert get(url, "admin:nope")[0] == 401
    assert get(url, "admin:s3cret")[0] == 200
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "s3cret" not in stderr.decode()


@pytest.mark.parametrize(
    ("args", "credential", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            None,
            "Serving the dashboard on 0.0.0.0 needs a credential",
        ),
        ([], "no-colon", "PROCRASTINATE_WEB_CREDENTIAL must be user:password"),
        (["--port", "http"], None, "'http' is not a port number"),
    ],
)
def test_web_bad_input(
    cli: Cli,
    db_env: dict[str, str],
    args: list[str],
    credential: str | None,
    message: str,
):
    env = dict(db_env)
    if credential:
        env[CREDENTIAL] = credential
    result = cli("web", *args, env=env)
    line = result.error_line()
    assert message in line
    assert "Serving the dashboard on http" not in result.stderr


def test_web_port_taken(cli: Cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = cli("web", "--port", str(port)).error_line()
    assert f"Cannot serve the dashboard on 127.0.0.1:{port}" in line
