"""Bad input to the command line: one clear line on stderr, exit code 1, no traceback,
and nothing written to any database."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.records import Database

ADD = "tests.acceptance.app.add"
APP_OPTION = "--app=tests.acceptance.app.app"

# Each case: the arguments (the app option included when wanted), where the database
# is ("test", "unreachable" or "empty"), and a word the error line must contain.
CASES = {
    "unknown task": ([APP_OPTION, "defer", "nope.nothing", "{}"], "test", "nope"),
    "malformed json": ([APP_OPTION, "defer", ADD, '{"a": 1,'], "test", "JSON"),
    "json not an object": ([APP_OPTION, "defer", ADD, "[1, 2]"], "test", "object"),
    "unreachable database": (
        [APP_OPTION, "defer", ADD, "{}"],
        "unreachable",
        "connect",
    ),
    "database without schema": ([APP_OPTION, "defer", ADD, "{}"], "empty", "schema"),
    "at and in together": (
        [APP_OPTION, "defer", "--at=2030-01-01T00:00:00", "--in=10", ADD, "{}"],
        "test",
        "--at",
    ),
    "app that does not import": (
        ["--app=nope.nothing", "defer", ADD, "{}"],
        "test",
        "nope",
    ),
    "app that is not an App": (
        ["--app=tests.acceptance.app.NOT_AN_APP", "defer", ADD, "{}"],
        "test",
        "App",
    ),
}

EnvFor = Callable[[str], dict[str, str]]


@pytest.fixture
def env_for(request: pytest.FixtureRequest) -> EnvFor:
    """The environment of each kind of case; the extra databases only when used."""
    fixtures = {
        "test": "db_env",
        "unreachable": "unreachable_env",
        "empty": "empty_env",
    }

    def env(kind: str) -> dict[str, str]:
        return dict(request.getfixturevalue(fixtures[kind]))

    return env


@pytest.mark.parametrize(("args", "where", "mention"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_error_line_and_nothing_written(
    args: list[str],
    where: str,
    mention: str,
    cli: Cli,
    db: Database,
    env_for: EnvFor,
    count_tables: Callable[[str], int],
) -> None:
    env = env_for(where)

    result = cli(*args, env=env, app=False)

    assert mention in result.error_line()
    assert result.stdout == ""
    assert db.count_jobs() == 0
    if where == "empty":
        assert count_tables(env["PGDATABASE"]) == 0


def test_error_line_is_plain_text_not_a_python_repr(cli: Cli, env_for: EnvFor) -> None:
    names = ["unknown task", "malformed json", "unreachable database"]

    results = cli.many(
        [CASES[name][0] for name in names],
        envs=[env_for(CASES[name][1]) for name in names],
        app=False,
    )

    lines = [result.error_line() for result in results]
    unreadable = [line for line in lines if is_repr(line)]
    assert not unreadable, "\n".join(unreadable)


def is_repr(line: str) -> bool:
    """Whether the message was printed as a Python repr: quoted, with escapes."""
    message = line.removeprefix("procrastinate: error:").strip()
    return message.startswith(("'", '"')) or "\\n" in message or "\\'" in message


def test_missing_app_is_explained(offline_cli: Cli) -> None:
    commands = [["worker", "--one-shot"], ["defer", ADD, "{}"], ["healthchecks"]]

    results = offline_cli.many(commands, app=False)

    # Whatever the command, the message must say how to give the app.
    lines = [result.error_line() for result in results]
    unexplained = [line for line in lines if "PROCRASTINATE_APP" not in line]
    assert not unexplained, "\n".join(unexplained)


# Input that used to be stored silently (or to fail with a misleading message): each
# must be refused with one line that names the problem and shows an accepted form.
REFUSED_INPUT = {
    # Year 10000 once converted to UTC: `shell list_jobs` then failed for the table.
    "at past year 9999": (
        ["defer", "--at=9999-12-31T23:59:59-14:00", ADD, "{}"],
        "out of range",
        "2030-01-31T09:30:00+01:00",
    ),
    # Before year 1 in UTC: no worker could load the job.
    "at before year 1": (
        ["defer", "--at=0001-01-01T00:00:00+14:00", ADD, "{}"],
        "out of range",
        "2030-01-31T09:30:00+01:00",
    ),
    # Silently became 9999-12-31.
    "in far in the past": (
        ["defer", "--in=-99999999999", ADD, "{}"],
        "out of range",
        "--in 3600",
    ),
    # Meant the 5th of the current month.
    "at a bare number": (["defer", "--at=5", ADD, "{}"], "ISO 8601", "2030-01-31"),
    # Warned, then stored the time as if it were UTC.
    "at a time zone name": (
        ["defer", "--at=2030-01-01T10:00 PST", ADD, "{}"],
        "ISO 8601",
        "+01:00",
    ),
    "priority past integer": (
        ["defer", "--priority=99999999999", ADD, "{}"],
        "out of range",
        "2147483647",
    ),
    # Used to be "invalid input syntax for type json".
    "NaN argument": (["defer", ADD, '{"a": NaN, "b": 1}'], "argument a is NaN", "null"),
    "Infinity argument": (
        ["defer", ADD, '{"a": 1, "b": -Infinity}'],
        "argument b is -Infinity",
        "null",
    ),
    # Used to be "unsupported Unicode escape sequence", without PostgreSQL's DETAIL.
    "NUL in an argument": (
        ["defer", ADD, '{"a": "x\\u0000", "b": 1}'],
        "argument a contains a NUL",
        "remove it",
    ),
    # Used to be "not enough values to unpack".
    "shell cancel of no job": (["shell", "cancel", "999"], "no job 999", "list_jobs"),
    # Used to be a bare int() error.
    "shell non-numeric id": (["shell", "cancel", "abc"], "'abc' is not a job id", "42"),
    # Used to say that the schema is missing.
    "shell id past bigint": (
        ["shell", "retry", "99999999999999999999"],
        "not a job id",
        "9223372036854775807",
    ),
    "shell list_jobs non-numeric id": (
        ["shell", "list_jobs", "id=1x"],
        "not a job id",
        "42",
    ),
    # Used to be PostgreSQL's "invalid input value for enum".
    "shell unknown status": (
        ["shell", "list_jobs", "status=bogus"],
        "Unknown status 'bogus'",
        "todo, doing",
    ),
}


def test_refused_input_is_one_line_with_an_accepted_form(
    cli: Cli, db: Database
) -> None:
    results = cli.many([args for args, _, _ in REFUSED_INPUT.values()])

    for name, result in zip(REFUSED_INPUT, results, strict=True):
        _, problem, accepted = REFUSED_INPUT[name]
        line = result.error_line()
        assert problem in line, f"{name}: {line}"
        assert accepted in line, f"{name}: {line}"
        assert result.stdout == "", name
    assert db.count_jobs() == 0


@pytest.mark.parametrize(
    "conninfo",
    ["postgresql://me:Hunter2-pw@[::1/db", "postgresql://me:Hunter2%zz@localhost/db"],
    ids=["unclosed IPv6 bracket", "bad percent escape"],
)
def test_malformed_conninfo_never_shows_the_password(
    cli: Cli, db_env: dict[str, str], conninfo: str
) -> None:
    # -v logs the exception's traceback too: it must not show the password either.
    result = cli(
        "-v",
        "--app=tests.acceptance.app.conninfo_app",
        "defer",
        ADD,
        "{}",
        env={**db_env, "ACCEPTANCE_CONNINFO": conninfo},
        app=False,
    )

    assert result.returncode == 1, str(result)
    # The debug log shows the traceback, then comes the error line.
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "procrastinate: error: Could not connect to PostgreSQL: "
    )
    assert "***" in result.stderr
    assert "Hunter2" not in result.stderr
