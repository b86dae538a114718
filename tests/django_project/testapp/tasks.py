"""Tasks of the test app, found by autodiscovery."""

from __future__ import annotations

from procrastinate.contrib.django import app
from tests.django_project.testapp import models


@app.task(queue="greetings")
def greet(name: str) -> int:
    """Store a greeting through the ORM, inside the worker."""
    return models.Greeting.objects.create(name=name).pk


@app.task
async def async_greet(name: str) -> int:
    """Store a greeting through the async ORM."""
    greeting = await models.Greeting.objects.acreate(name=name)
    return greeting.pk


@app.task
def fail() -> None:
    """Always fail, to have a failed job to retry."""
    raise RuntimeError("This task always fails")
