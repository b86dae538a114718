"""A book, whose word count a task computes after it is added."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, TypeAlias

from django.db import models

if TYPE_CHECKING:
    # Without the django-stubs mypy plugin, fields spell out their types: what they
    # accept, then what they return.
    CharField: TypeAlias = models.CharField[str, str]
    NullableInteger: TypeAlias = models.IntegerField[int | None, int | None]
    NullableDateTime: TypeAlias = models.DateTimeField[
        datetime.datetime | None, datetime.datetime | None
    ]


class Book(models.Model):
    """A book of the library."""

    title: CharField = models.CharField(max_length=200)
    text: models.TextField[str, str] = models.TextField(blank=True)
    word_count: NullableInteger = models.IntegerField(null=True, blank=True)
    indexed_at: NullableDateTime = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title
