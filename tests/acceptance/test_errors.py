"""Bad input to the command line: one clear line on stderr, exit code 1, no traceback,
and nothing written to any database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Cli, Database

ADD = "tests.acceptance.app.add"
APP_OPTION = "--app=tests.acceptance.app.app"

# Each case: the arguments (the app option included when wanted), the environment
# to use ("db", "unreachable" or "empty"), and what the error line must mention.
CASES = {
    "unknown task": ([APP_OPTION, "defer", "nope.nothing", "{}"], "db", "nope.nothing"),
    "malformed json": ([APP_OPTION, "defer", ADD, '{"a": 1,'], "db", "JSON"),
    "json not an object": ([APP_OPTION, "defer", ADD, "[1, 2]"], "db", "object"),
    "unreachable database": (
        [APP_OPTION, "defer", ADD, "{}"],
        "unreachable",
        "connect",
    ),
    "database without schema": ([APP_OPTION, "defer", ADD, "{}"], "empty", "schema"),
    "at and in together": (
        [APP_OPTION, "defer", "--at=2030-01-01T00:00:00", "--in=10", ADD, "{}"],
        "db",
        "--at",
    ),
    "app that does not import": (
        ["--app=nope.nothing", "defer", ADD, "{}"],
        "db",
        "nope",
    ),
    "app that is not an App": (
        ["--app=tests.acceptance.app.NOT_AN_APP", "defer", ADD, "{}"],
        "db",
        "App",
    ),
}


@pytest.fixture
def envs(
    db_env: dict[str, str], unreachable_env: dict[str, str], empty_db_name: str
) -> dict[str, dict[str, str]]:
    return {
        "db": db_env,
        "unreachable": unreachable_env,
        "empty": {**db_env, "PGDATABASE": empty_db_name},
    }


@pytest.mark.parametrize(("args", "env", "mention"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_error_line_and_nothing_written(
    args: list[str],
    env: str,
    mention: str,
    cli: Cli,
    db: Database,
    envs: dict[str, dict[str, str]],
    empty_db_name: str,
) -> None:
    result = cli(*args, env=envs[env], app=False)

    assert mention in result.error_line()
    assert result.stdout == ""
    assert db.count_jobs() == 0
    assert db.tables_in(empty_db_name) == 0


READABLE_CASES = {
    name: CASES[name]
    for name in ("unknown task", "malformed json", "unreachable database")
}


@pytest.mark.parametrize(
    ("args", "env", "mention"), READABLE_CASES.values(), ids=READABLE_CASES.keys()
)
def test_error_line_is_plain_text_not_a_python_repr(
    args: list[str],
    env: str,
    mention: str,
    cli: Cli,
    envs: dict[str, dict[str, str]],
) -> None:
    line = cli(*args, env=envs[env], app=False).error_line()

    message = line.removeprefix("procrastinate: error:").strip()
    assert not message.startswith(("'", '"')), line
    assert "\\n" not in message, line
    assert "\\'" not in message, line
