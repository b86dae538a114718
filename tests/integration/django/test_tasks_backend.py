"""The ``django.tasks`` backend end to end, on Django 5.2 with the django-tasks
backport (in this process) and on Django 6 (in its own venv): the scenarios of
:mod:`tests.integration.django.tasks_e2e`."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests import django6
from tests.integration.django import tasks_e2e
from tests.support import databases


@pytest.fixture
def harness(django_env: dict[str, str]) -> tasks_e2e.Harness:
    return tasks_e2e.Harness(python=sys.executable, env=django_env)


@pytest.mark.parametrize("scenario", tasks_e2e.SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_this_django(scenario: Any, harness: tasks_e2e.Harness) -> None:
    scenario(harness)


def test_scenarios_on_django_6(run_id: str) -> None:
    """The scenarios again, in the venv of Django 6 (django.tasks itself), on a
    database of their own that the script migrates with Django 6."""
    python = django6.python()
    name = databases.unique_name(f"procrastinate_test_{run_id}_django6")
    with databases.temporary_database(name):
        completed = subprocess.run(
            [str(python), "-m", "tests.integration.django.tasks_e2e"],
            cwd=tasks_e2e.REPO_ROOT,
            env=databases.environment(
                name,
                DJANGO_SETTINGS_MODULE=tasks_e2e.SETTINGS_MODULE,
                PYTHONPATH=str(tasks_e2e.REPO_ROOT),
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=tasks_e2e.SUBPROCESS_TIMEOUT * 3,
        )
    assert completed.returncode == 0, completed.stdout
    passed = [
        line for line in completed.stdout.splitlines() if line.startswith("passed")
    ]
    assert passed == [
        f"passed {scenario.__name__} on Django {django6_version(line)}"
        for scenario, line in zip(tasks_e2e.SCENARIOS, passed)
    ], completed.stdout
    assert len(passed) == len(tasks_e2e.SCENARIOS), completed.stdout


def django6_version(line: str) -> str:
    """The Django version a line of the script names, which must be a 6.x."""
    version = line.rsplit(" ", 1)[-1]
    assert version.startswith("6."), line
    return version


@pytest.mark.parametrize(
    ("required", "outcome"), [("", pytest.skip.Exception), ("1", pytest.fail.Exception)]
)
def test_without_python_3_12_django_6_skips_unless_required(
    monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(django6, "interpreter", lambda: None)
    monkeypatch.setenv(django6.REQUIRE_VARIABLE, required)

    with pytest.raises(outcome, match=r"no Python 3\.12 or later found"):
        django6.python()
