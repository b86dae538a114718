"""Fixtures for the checks of the repository: where to find the linters."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The linters are installed by the test dependency group into the environment that
# runs pytest, whose scripts directory is not always on PATH (`.venv/bin/pytest`).
_SCRIPTS_DIR = str(Path(sys.executable).parent)


def _find(name: str) -> str | None:
    return shutil.which(name, path=_SCRIPTS_DIR) or shutil.which(name)


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """Return a function giving the path of a required command."""

    def require(name: str) -> str:
        path = _find(name)
        if path is None:
            pytest.fail(
                f"`{name}` is not installed; install the test dependencies "
                "(pip install --group test) to get it."
            )
        return path

    return require


@pytest.fixture(scope="session")
def optional_tool() -> Callable[[str], str | None]:
    """Return a function giving the path of a command, or None if it is absent."""
    return _find
