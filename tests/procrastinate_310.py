"""Procrastinate 3.10, the published package, for the upgrade tests.

It lives in a venv of its own (:mod:`tests.peer_venvs`), built from the package index
on first use and cached. Its processes run from ``tests/peer_app`` with only that
folder on ``PYTHONPATH``, so that they import the published procrastinate, not ours.
When the venv cannot be built (no package index), the tests that need it skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
import pytest

from tests import peer_venvs

REQUIREMENTS = ["procrastinate[django]==3.10.0"]
PEER_APP_DIR = Path(__file__).parent / "peer_app"
APP = "peer_tasks.app"
TIMEOUT = 120


def python() -> Path:
    """The interpreter of the 3.10 venv; skips the test when it cannot be built."""
    try:
        return peer_venvs.peer_python("procrastinate-3.10", REQUIREMENTS)
    except peer_venvs.PeerVenvError as exc:
        pytest.skip(f"procrastinate 3.10 is not available: {exc}")


def peer_env(dbname: str, **extra: str) -> dict[str, str]:
    """The environment of a peer process (of 3.10 or ours) on database ``dbname``."""
    return {
        **os.environ,
        "PGDATABASE": dbname,
        "PYTHONPATH": str(PEER_APP_DIR),
        **extra,
    }


def run(
    args: Sequence[str],
    dbname: str,
    env: Mapping[str, str] | None = None,
    python_path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """
    Run ``python ARGS`` of the 3.10 venv (or ``python_path``) on ``dbname``, from
    ``tests/peer_app``.

    :raises AssertionError: the command failed; the message holds its output.
    """
    result = subprocess.run(
        [str(python_path or python()), *args],
        cwd=PEER_APP_DIR,
        env={**peer_env(dbname), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{python_path or 'procrastinate 3.10'}: {' '.join(args)} failed "
        f"({result.returncode}):\n{result.stdout}{result.stderr}"
    )
    return result


def apply_schema(dbname: str) -> None:
    """``procrastinate schema --apply`` of 3.10 on the empty database ``dbname``."""
    run(["-m", "procrastinate", "--app", APP, "schema", "--apply"], dbname)


def defer(
    dbname: str, count: int, pause: float = 0.0, python_path: Path | None = None
) -> list[int]:
    """Defer ``count`` ``record`` jobs with the code of 3.10 (or of ``python_path``);
    their ids."""
    script = (
        "import json, peer_tasks\n"
        "with peer_tasks.app.open():\n"
        f"    ids = [peer_tasks.record.defer(pause={pause!r}) for _ in range({count})]\n"
        "print(json.dumps(ids))\n"
    )
    return list(json.loads(run(["-c", script], dbname, python_path=python_path).stdout))


def migrations_path() -> Path:
    """The folder of 3.10's own SQL migrations, from ``00.00.00_01_initial.sql`` on."""
    result = run(["-m", "procrastinate", "schema", "--migrations-path"], "postgres")
    return Path(result.stdout.strip())


def django_migration_names() -> list[str]:
    """The names of the Django migrations of 3.10's ``procrastinate`` app."""
    script = (
        "import json, pathlib, procrastinate.contrib.django.migrations as m\n"
        "folder = pathlib.Path(m.__file__).parent\n"
        "print(json.dumps(sorted(p.stem for p in folder.glob('0*.py'))))\n"
    )
    return list(json.loads(run(["-c", script], "postgres").stdout))


def apply_files(dbname: str, folder: Path, phase: str) -> list[str]:
    """Apply our migration files of one phase (``pre`` or ``post``) in name order, each
    in a transaction, as a migration tool does; their names."""
    names = sorted(path.name for path in folder.glob(f"*_{phase}_*.sql"))
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        for name in names:
            with conn.transaction():
                conn.execute((folder / name).read_text(encoding="utf-8"))
    return names
