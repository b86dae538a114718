"""Django 6, for the tests of the ``django.tasks`` backend on Django's own task API.

Django 6 needs Python 3.12 or later, so it lives in a venv of its own
(:mod:`tests.peer_venvs`), made from the first Python 3.12+ found (see :func:`candidates`)
and cached. It holds Django 6, the test driver of psycopg and our runtime
dependencies, not procrastinate itself: its processes import ours from the worktree
(``PYTHONPATH``), so the cached venv stays valid whatever our code becomes. Without
the interpreter or the package index, the tests that need it skip with the reason,
unless ``PROCRASTINATE_REQUIRE_DJANGO6=1`` (set by ``.ci/run``) makes them fail.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path

import pytest

from tests import peer_venvs

REQUIRE_VARIABLE = "PROCRASTINATE_REQUIRE_DJANGO6"
INTERPRETER_VARIABLE = "PROCRASTINATE_PYTHON312"
DJANGO = "django>=6.0,<6.1"


def runtime_requirements() -> list[str]:
    """Our dependencies without extras, as our installed metadata lists them."""
    return sorted(
        requirement
        for requirement in importlib.metadata.requires("procrastinate") or []
        if "extra ==" not in requirement
    )


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(
            f"Django 6 is required ({REQUIRE_VARIABLE}=1): {reason}", pytrace=False
        )
    pytest.skip(f"Django 6 is not available: {reason}")


def candidates() -> list[str]:
    """The interpreters that may be Python 3.12 or later, most explicit first:
    ``$PROCRASTINATE_PYTHON312``, those on ``PATH``, pyenv's installed versions (its
    shims fail for a version that is not selected)."""
    found = [os.environ.get(INTERPRETER_VARIABLE)]
    found += [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found += [
        str(path) for path in sorted(pyenv.glob("versions/3.1[2-9]*/bin/python3"))
    ]
    return [path for path in found if path]


def interpreter() -> str | None:
    """The first candidate that runs and is Python 3.12 or later."""
    for path in candidates():
        try:
            version = peer_venvs.interpreter_version(path)
        except peer_venvs.PeerVenvError:
            continue
        major, minor = (int(part) for part in version.split()[0].split(".")[:2])
        if (major, minor) >= (3, 12):
            return path
    return None


def python() -> Path:
    """The interpreter of the Django 6 venv, built on first use; skips (or fails, see
    :data:`REQUIRE_VARIABLE`) when it cannot be."""
    found = interpreter()
    if found is None:
        _unavailable(
            f"no Python 3.12 or later found (set {INTERPRETER_VARIABLE}): Django 6 "
            "needs it"
        )
    assert found is not None
    try:
        return peer_venvs.peer_python(
            "django-6",
            [DJANGO, "psycopg[binary]>=3.1.13", *runtime_requirements()],
            interpreter=found,
        )
    except peer_venvs.PeerVenvError as exc:
        _unavailable(str(exc))
        raise
