"""A task of the Django project that procrastinate 3.10 and this version both run."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(name="peer_django.tasks.double")
def double(n: int) -> int:
    return 2 * n
