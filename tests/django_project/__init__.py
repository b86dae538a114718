"""A Django project using the Procrastinate integration, for the tests."""

from __future__ import annotations
