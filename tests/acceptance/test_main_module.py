"""A task module run as a script, then worked on by the real console script.

``python mymodule.py`` defers jobs of tasks defined in ``__main__``: they must be named
after the module a worker imports (``mymodule.add``), and the ``procrastinate`` console
script, started in the same folder without ``PYTHONPATH``, must import ``mymodule``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.records import Database

MODULE = """
import sys
import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(queue="sums")
def add(a: int, b: int) -> int:
    return a + b


if __name__ == "__main__":
    with app.open():
        add.defer(a=3, b=5)
    print(add.name)
"""


def run(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mymodule.py").write_text(MODULE)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "defer.py").write_text(MODULE)
    return tmp_path


@pytest.fixture
def env(db_env: dict[str, str]) -> dict[str, str]:
    # What a reader's shell has: the venv's scripts on PATH, no PYTHONPATH.
    variables = {
        name: value
        for name, value in db_env.items()
        if name != "PYTHONPATH" and not name.startswith("PROCRASTINATE_")
    }
    bin_dir = os.path.dirname(sys.executable)
    return {**variables, "PATH": bin_dir + os.pathsep + variables.get("PATH", "")}


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["python", "mymodule.py"], "mymodule.add"),
        (["python", "scripts/defer.py"], "scripts.defer.add"),
        (["python", "-m", "scripts.defer"], "scripts.defer.add"),
    ],
)
def test_script_tasks_are_named_after_their_module(
    project: Path, env: dict[str, str], db: Database, argv: list[str], name: str
) -> None:
    deferred = run(argv, project, env)
    assert (deferred.returncode, deferred.stdout, deferred.stderr) == (
        0,
        f"{name}\n",
        "",
    )
    app = name.rpartition(".")[0] + ".app"
    worker = run(
        ["procrastinate", f"--app={app}", "worker", "--one-shot"], project, env
    )
    assert worker.returncode == 0, worker.stderr
    assert f"Job {name}[1](a=3, b=5) ended with status: Success" in worker.stderr
    assert db.statuses() == {1: "succeeded"}


def test_unnamable_main_module_warns_once(project: Path, env: dict[str, str]) -> None:
    # python -c: there is no file to name the module after.
    code = MODULE.split("if __name__")[0] + "print(add.name)"
    completed = run(["python", "-c", code], project, env)
    assert completed.stdout == "__main__.add\n"
    assert completed.stderr.splitlines() == [
        "The app is defined in __main__, which a worker cannot import: its tasks are "
        "named __main__.<function>. Define the app in a module of the current directory."
    ]


def test_console_script_imports_from_the_current_directory(
    project: Path, env: dict[str, str], db: Database
) -> None:
    completed = run(
        ["procrastinate", "--app=mymodule.app", "healthchecks"], project, env
    )
    assert completed.returncode == 0, completed.stderr
    assert "DB connection: OK" in completed.stdout
