"""The Django demo project passes Django's checks and has its migrations."""

from __future__ import annotations

import subprocess
import sys

from tests.integration.django.conftest import REPO_ROOT, SUBPROCESS_TIMEOUT


def test_demo_checks_and_migrations(django_env: dict[str, str]) -> None:
    env = {
        key: value
        for key, value in django_env.items()
        if key != "DJANGO_SETTINGS_MODULE"
    }

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "procrastinate_demo.django_demo",
            "makemigrations",
            "--check",
            "--dry-run",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
