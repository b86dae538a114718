"""The model that the tasks of the test app write to."""

from __future__ import annotations

from django.db import models


class Greeting(models.Model):
    """A greeting, created by the ``greet`` task."""

    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Hello {self.name}"
