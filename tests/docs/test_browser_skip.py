"""Without Chromium, the browser tests are skipped with one visible line, unless
``PROCRASTINATE_REQUIRE_BROWSER=1`` makes them mandatory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_browser_tests(
    tmp_path: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    # An empty PATH: no Chromium can be found, and pytest needs nothing else.
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PROCRASTINATE_")
    }
    env.update(PATH=str(empty), **variables)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/docs/test_browser.py",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_browser_skips_with_one_line(tmp_path: Path) -> None:
    completed = run_browser_tests(tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " skipped" in completed.stdout
    hint = [line for line in completed.stdout.splitlines() if "Browser tests" in line]
    assert hint == [
        "Browser tests skipped: Chromium is not installed; install Chromium "
        "(apt-get install chromium) to run them, as .ci/run does."
    ]


def test_missing_browser_fails_when_required(tmp_path: Path) -> None:
    completed = run_browser_tests(tmp_path, PROCRASTINATE_REQUIRE_BROWSER="1")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "PROCRASTINATE_REQUIRE_BROWSER=1" in completed.stdout
    assert "Browser tests skipped" not in completed.stdout


def test_ci_requires_the_browser() -> None:
    assert "export PROCRASTINATE_REQUIRE_BROWSER=1" in (REPO / ".ci/run").read_text()
