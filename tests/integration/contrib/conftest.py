"""Fixtures of the contrib connector tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.contrib import empty_tables


@pytest.fixture(scope="module")
def module_db_name(database_supply: Any) -> Iterator[str]:
    """One clone of the template database per test module."""
    name: str = database_supply.take()
    yield name
    database_supply.give_back(name)


@pytest.fixture
def db_name(module_db_name: str) -> str:
    """The module's database, emptied: one clone per module saves seconds."""
    empty_tables(module_db_name)
    return module_db_name
