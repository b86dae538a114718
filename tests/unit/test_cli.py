"""Command line parsing (the commands themselves run in tests/acceptance)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import procrastinate
from procrastinate import cli, exceptions


def parse(*args: str) -> dict[str, object]:
    return vars(cli.create_parser().parse_args(args))


def test_worker_only_forwards_given_flags() -> None:
    parsed = parse("worker")
    assert {
        k
        for k in parsed
        if k
        not in ("app", "verbose", "log_format", "log_format_style", "func", "command")
    } == set()
    parsed = parse(
        "worker",
        "-c",
        "3",
        "--queues",
        "a, b",
        "--one-shot",
        "--no-listen-notify",
        "--delete-jobs",
        "always",
    )
    assert (
        parsed["concurrency"],
        parsed["queues"],
        parsed["wait"],
        parsed["listen_notify"],
        parsed["delete_jobs"],
    ) == (3, ["a", "b"], False, False, "always")


def test_empty_queues_means_all() -> None:
    assert parse("worker", "--queues", "")["queues"] is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCRASTINATE_APP", "some.app")
    monkeypatch.setenv("PROCRASTINATE_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("PROCRASTINATE_WORKER_WAIT", "false")
    monkeypatch.setenv("PROCRASTINATE_DEFER_QUEUE", "")
    parsed = parse("worker")
    assert (parsed["app"], parsed["concurrency"], parsed["wait"]) == (
        "some.app",
        4,
        False,
    )
    assert parse("defer", "t")["queue"] is None


def test_bad_environment_value_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROCRASTINATE_WORKER_CONCURRENCY", "abc")
    with pytest.raises(ValueError, match="PROCRASTINATE_WORKER_CONCURRENCY"):
        cli.create_parser()


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("0", False), ("off", False)]
)
def test_env_bool(raw: str, expected: bool) -> None:
    assert cli.env_bool(raw) is expected


def test_env_bool_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        cli.env_bool("maybe")


def test_defer_schedule_options() -> None:
    assert parse("defer", "t", "--in", "10")["schedule_in"] == {"seconds": 10}
    at = parse("defer", "t", "--at", "2030-01-02T03:04:05")["schedule_at"]
    assert at.isoformat() == "2030-01-02T03:04:05+00:00"  # type: ignore[attr-defined]


def test_usage_errors_exit_1_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse("defer", "t", "--in", "10", "--at", "2030-01-01")
    assert excinfo.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not allowed with argument" in err


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('"text"', "expected a JSON object"),
    ],
)
def test_load_json_args_errors(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cli.load_json_args(raw, __import__("json").loads)


def test_load_json_args() -> None:
    assert cli.load_json_args('{"a": 1}', __import__("json").loads) == {"a": 1}
    assert cli.load_json_args(None, __import__("json").loads) == {}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--version")
    assert capsys.readouterr().out.startswith("procrastinate, version ")


def test_messages_have_no_rest_markup() -> None:
    # Printed as is in a terminal by the command line.
    assert str(exceptions.MissingApp()) == (
        "No app was given: pass --app=<dotted.path.to.app> or set the "
        "PROCRASTINATE_APP environment variable."
    )


def test_current_directory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here_app.py").write_text(
        "import procrastinate\n"
        "app = procrastinate.App(connector=procrastinate.PsycopgConnector())\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "here_app", raising=False)
    assert isinstance(cli.load_app("here_app.app"), procrastinate.App)
    assert sys.path[0] == str(tmp_path)
    cli.current_directory_first()
    assert sys.path.count(str(tmp_path)) == 1
