"""The ``django.tasks`` backend end to end, on Django 5.2 with the django-tasks
backport (in this process) and on Django 6 (in its own venv): the scenarios of
:mod:`tests.integration.django.tasks_e2e`."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.integration.django import tasks_e2e


@pytest.fixture
def harness(django_env: dict[str, str]) -> tasks_e2e.Harness:
    return tasks_e2e.Harness(python=sys.executable, env=django_env)


@pytest.mark.parametrize("scenario", tasks_e2e.SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_on_this_django(scenario: Any, harness: tasks_e2e.Harness) -> None:
    scenario(harness)
