"""The documentation site, built once per test session for the tests that look at it.

``test_site`` and ``test_browser`` both import :func:`built_site`. pytest registers an
imported fixture once per module, so the build itself is cached here, at module level:
whichever module asks first builds the site, the other one reuses it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Variables that would make the changelog reach GitHub, or fail the build.
_CHANGELOG_VARIABLES = (
    "CHANGELOG_GITHUB_TOKEN",
    "GITHUB_TOKEN",
    "CHANGELOG_GITHUB_API_URL",
    "CHANGELOG_INCLUDE_PRERELEASES",
    "CHANGELOG_FAIL_ON_FETCH_ERROR",
    "READTHEDOCS",
    "READTHEDOCS_VERSION_TYPE",
)
BUILD_TIMEOUT = 600


@dataclasses.dataclass(frozen=True)
class BuiltSite:
    """The result of ``sphinx-build`` on ``docs/``."""

    html: Path
    returncode: int
    output: str
    duration: float

    def page(self, name: str) -> str:
        """The HTML of a built page, by its path without extension."""
        return (self.html / f"{name}.html").read_text(encoding="utf-8")


def closed_port_url() -> str:
    """An URL on which nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def build(destination: Path) -> BuiltSite:
    """Build the site offline, the way ``scripts/docs`` does, into ``destination``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _CHANGELOG_VARIABLES and not name.startswith("PROCRASTINATE_")
    }
    # The changelog finds GitHub unreachable at once and renders its offline note.
    env["CHANGELOG_GITHUB_API_URL"] = closed_port_url()
    env["LC_ALL"] = "C.UTF-8"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-n",
        "-b",
        "html",
        "-j",
        "auto",
        "-D",
        "changelog_github_retries=0",
        "-d",
        str(destination / "doctrees"),
        str(DOCS),
        str(destination / "html"),
    ]
    start = time.monotonic()
    completed = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    return BuiltSite(
        html=destination / "html",
        returncode=completed.returncode,
        output=completed.stdout,
        duration=time.monotonic() - start,
    )


_BUILDS: dict[str, BuiltSite] = {}


@pytest.fixture(scope="session")
def site_build(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The documentation, built once per session, whatever the outcome."""
    if "site" not in _BUILDS:
        _BUILDS["site"] = build(tmp_path_factory.mktemp("docs-site"))
    return _BUILDS["site"]


@pytest.fixture(scope="session")
def built_site(site_build: BuiltSite) -> BuiltSite:
    """The documentation, built once per session; fails the test if the build did."""
    if site_build.returncode != 0 or not (site_build.html / "index.html").exists():
        pytest.fail(
            f"The documentation build failed (exit code {site_build.returncode}):\n"
            f"{site_build.output[-6000:]}"
        )
    return site_build
