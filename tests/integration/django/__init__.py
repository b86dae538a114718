"""Tests of the Django integration, on the test project of tests/django_project."""

from __future__ import annotations
