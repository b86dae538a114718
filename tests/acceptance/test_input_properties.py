"""Property tests of the command line's input: ``defer`` JSON and options, and shell
lines. Whatever is typed, either one clear error line (exit code 1) and nothing
written, or a job that a worker runs to a final status."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import dateutil.parser
from hypothesis import given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.records import Database

ADD = "tests.acceptance.app.add"
# Each example starts Python processes: fewer examples than the in-process tests.
FEW = max(3, settings.default.max_examples // 3)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_args = st.one_of(
    st.fixed_dictionaries({"a": numbers, "b": numbers}).map(json.dumps),
    st.dictionaries(st.text(max_size=3), st.text(max_size=5), max_size=2).map(
        json.dumps
    ),
    st.text(max_size=12),
)
datetimes = st.datetimes(
    timezones=st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
    )
).map(datetime.datetime.isoformat)
defer_options = st.lists(
    st.one_of(
        st.builds("--at={}".format, st.one_of(datetimes, st.text(max_size=8))),
        st.builds("--in={}".format, st.integers(min_value=-(10**12), max_value=0)),
        st.builds(
            "--priority={}".format, st.one_of(st.integers(), st.text(max_size=4))
        ),
        st.builds("--queue={}".format, st.text(alphabet="ab c'\"", max_size=4)),
    ),
    max_size=2,
    unique_by=lambda option: option.split("=")[0],
)


def no_nul(text: str) -> bool:
    # A command line cannot carry a NUL byte at all.
    return "\x00" not in text


def assert_stored_as_asked(job: dict[str, Any], options: list[str]) -> None:
    """No silent change: the job is stored as the options say, read as ISO 8601."""
    given_options = dict(option.split("=", 1) for option in options)
    if "--priority" in given_options:
        assert job["priority"] == int(given_options["--priority"])
    if "--at" in given_options:
        asked = dateutil.parser.isoparse(given_options["--at"])
        if asked.tzinfo is None:
            asked = asked.replace(tzinfo=datetime.timezone.utc)
        assert job["scheduled_at"] == asked


@settings(max_examples=FEW)
@given(options=defer_options.filter(lambda o: all(map(no_nul, o))), args=json_args)
def test_defer_refuses_clearly_or_the_job_runs(
    cli: Cli, db: Database, options: list[str], args: str
) -> None:
    if not no_nul(args):
        return
    before = db.count_jobs()

    result = cli("defer", *options, ADD, args)

    if result.returncode != 0:
        result.error_line()
        assert result.stdout == ""
        assert db.count_jobs() == before
        return
    job = db.job(int(result.stdout))
    assert_stored_as_asked(job, options)
    if job["scheduled_at"] is not None and job["scheduled_at"] > db.now():
        return
    # All queues: --queues trims its names, and a queue may end with a space.
    cli("worker", "--one-shot").check()
    assert db.job(job["id"])["status"] in ("succeeded", "failed")


shell_words = st.lists(
    st.one_of(
        st.sampled_from(["list_jobs", "list_queues", "cancel", "retry", "details"]),
        st.builds(
            "{}={}".format,
            st.sampled_from(["id", "queue", "task", "status", "lock", "bogus"]),
            st.text(alphabet="1a b'\"=", max_size=4),
        ),
        st.text(alphabet="19a '\"", max_size=22),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=FEW)
@given(words=shell_words)
def test_shell_command_answers_or_refuses_in_one_line(
    cli: Cli, db: Database, words: list[str]
) -> None:
    result = cli("shell", *words)

    if result.returncode != 0:
        result.error_line()
    assert "Traceback" not in result.stderr
    assert db.count_jobs() == 0
