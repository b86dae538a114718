"""Fixtures of the unit tests: apps whose connector is never opened."""

from __future__ import annotations

import pytest

import procrastinate


@pytest.fixture
def unopened_app() -> procrastinate.App:
    """An app with a connector that is never opened (for declaration tests)."""
    return procrastinate.App(connector=procrastinate.PsycopgConnector())
