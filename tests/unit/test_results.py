"""The pure decisions of job results: what is stored of a value or an error, what a
notification names, when a wait reads again or gives up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import pytest

import procrastinate
from procrastinate import connector, exceptions, jobs, outcomes, results, testing
from tests.support.jobs import make_job

SUCCESS = outcomes.Outcome(
    status=jobs.Status.SUCCEEDED, title="Success", action="job_success", level=20
)


def test_a_value_is_stored_in_its_envelope() -> None:
    assert results.encode_result({"a": [1]}, None, 100) == (
        '{"value": {"a": [1]}}',
        None,
    )
    assert results.encode_result(None, None, 1) == (None, None)
    # The app's json_dumps encodes it, once.
    assert results.encode_result(1, lambda value: "[true]", None) == (
        '{"value": [true]}',
        None,
    )


def test_the_limit_counts_bytes_of_json() -> None:
    # "é" is two bytes: '"éé"' is 6 bytes, 4 characters.
    assert (
        results.encode_result("éé", lambda v: json.dumps(v, ensure_ascii=False), 6)[1]
        is None
    )
    text, refused = results.encode_result(
        "ééé", lambda v: json.dumps(v, ensure_ascii=False), 6
    )
    assert refused == (
        "the value is 8 bytes of JSON, more than the app's max_result_bytes=6"
    )
    assert json.loads(text or "") == {"refused": refused}


@pytest.mark.parametrize(
    ("dumps", "expected"),
    [
        (json.dumps, "not JSON-serializable by the app's json_dumps: TypeError"),
        (lambda value: "\x00", "NUL character"),
        (lambda value: '"\udcff"', "lone surrogate"),
    ],
)
def test_what_cannot_be_stored_is_refused(dumps: object, expected: str) -> None:
    text, refused = results.encode_result(object(), dumps, None)  # type: ignore[arg-type]
    assert refused is not None
    assert expected in refused
    assert json.loads(text or "") == {"refused": refused}


def test_an_error_is_its_class_path_message_and_traceback() -> None:
    try:
        raise exceptions.TaskTimeout("too long")
    except exceptions.TaskTimeout as exc:
        error = results.error_of(exc)
        encoded = results.encode_error(exc)
    assert error.type == "procrastinate.exceptions.TaskTimeout"
    assert error.message == "too long"
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert error.traceback.endswith("TaskTimeout: too long\n")
    assert json.loads(encoded) == {
        "type": error.type,
        "message": error.message,
        "traceback": error.traceback,
    }


def test_long_error_texts_keep_their_end() -> None:
    text = results.storable_text("a" * 10 + "end", limit=5)
    assert text == "...\naaend"
    assert results.storable_text("\x00\udcff") == "\\x00\\udcff"


def test_an_outcome_records_the_value_of_a_success_and_the_error_otherwise() -> None:
    stored = outcomes.recorded(SUCCESS, [1], ValueError("ignored"), None, None)
    assert (stored.result, stored.error, stored.refused) == (
        '{"value": [1]}',
        None,
        None,
    )
    failed = outcomes.FAILED_UNRUNNABLE
    with_error = outcomes.recorded(failed, None, ValueError("bad"), None, None)
    assert json.loads(with_error.error or "")["message"] == "bad"
    assert outcomes.recorded(failed, None, None, None, None) == failed
    refused = outcomes.recorded(SUCCESS, "xx", None, None, 1)
    assert refused.refused is not None
    message = outcomes.refusal_message(make_job(id=3, task_name="t"), refused.refused)
    assert message.startswith("Job t[3](")
    assert "max_result_bytes=1" in message


@pytest.mark.parametrize(
    ("payload", "ids"),
    [
        ('{"job_ids": [1, 2]}', {1, 2}),
        ('{"job_ids": [1, "2", null]}', {1}),
        ("[1]", set()),
        ("not json", set()),
        ('{"job_ids": 3}', set()),
    ],
)
def test_a_finished_notification_is_read_defensively(
    payload: str, ids: set[int]
) -> None:
    assert results.finished_ids(payload) == ids


def test_finished_ids_go_in_notifications_of_at_most_300() -> None:
    payloads = testing.rules.finished_payloads(list(range(700, 0, -1)))
    assert [len(json.loads(p)["job_ids"]) for p in payloads] == [300, 300, 100]
    assert json.loads(payloads[0])["job_ids"][0] == 1
    biggest = testing.rules.finished_payloads([2**63 - 1] * 300)[0]
    assert len(biggest.encode()) < 8000


def test_a_wait_reads_again_at_the_poll_interval_until_its_deadline() -> None:
    waiting = results.JobResult(job_id=1, status=jobs.Status.DOING)
    done = results.JobResult(job_id=1, status=jobs.Status.ABORTED)
    assert results.next_wait(done, 0.0, 10.0, 1.0) is None
    assert results.next_wait(waiting, None, 10.0, 1.0) == 1.0
    assert results.next_wait(waiting, 10.5, 10.0, 1.0) == 0.5
    with pytest.raises(exceptions.JobWaitTimeout) as raised:
        results.next_wait(waiting, 10.0, 10.0, 1.0)
    assert isinstance(raised.value, TimeoutError)
    with pytest.raises(ValueError, match="poll_interval"):
        results.check_wait(None, 0)


def test_the_app_checks_its_result_limit() -> None:
    connector = testing.InMemoryConnector()
    assert procrastinate.App(connector=connector).max_result_bytes == 1024 * 1024
    assert procrastinate.App(connector=connector, max_result_bytes=None)
    with pytest.raises(ValueError, match="max_result_bytes must be 1 or more"):
        procrastinate.App(connector=connector, max_result_bytes=0)


class SwallowingConnector(testing.InMemoryConnector):
    """Its listener swallows its first cancellation, as ``asyncio.wait_for`` does
    before Python 3.12 when the cancellation comes as its inner wait ends (aiopg
    runs each statement through it)."""

    swallowed = 0

    def __init__(self) -> None:
        super().__init__()
        self.listening = asyncio.Event()

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        self.listening.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.swallowed += 1
        await super().listen_notify(on_notification, channels)


async def test_a_wait_ends_when_its_listener_swallows_a_cancellation() -> None:
    target = SwallowingConnector()
    app = procrastinate.App(connector=target)
    async with app.open_async():
        job = await app.job_manager.defer_job_async(make_job())
        assert job.id is not None

        async def cancel_once_listening() -> None:
            await target.listening.wait()
            await app.job_manager.cancel_job_by_id_async(job_id)

        job_id = job.id
        canceller = asyncio.create_task(cancel_once_listening())
        waiting = asyncio.create_task(
            results.wait_async(target, job_id, timeout=5, poll_interval=0.05)
        )
        # Not wait_for: the wait before the fix swallowed that cancellation too.
        done, _ = await asyncio.wait([waiting], timeout=10)
        await canceller
        if not done:
            waiting.cancel()
            pytest.fail("the wait never ended: its listener outlived its cancellation")
        found = waiting.result()

    assert (found.status, target.swallowed) == (jobs.Status.CANCELLED, 1)
