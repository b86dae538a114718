"""Property tests of what a program may pass to ``configure``/``defer``: whatever it
is, either a clear one-line error and nothing written, or a job that a worker runs to
a final status (or that waits, readable, for its time)."""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import procrastinate
from procrastinate import exceptions, jobs, utils

FINAL = {jobs.Status.SUCCEEDED.value, jobs.Status.FAILED.value}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
    ),
    max_leaves=8,
)
task_kwargs = st.dictionaries(
    st.text(max_size=6).filter(str.isidentifier), json_values, max_size=3
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))
)
options = st.fixed_dictionaries(
    {},
    optional={
        "queue": st.text(max_size=6),
        "priority": st.one_of(
            st.integers(min_value=-(2**33), max_value=2**33),
            st.just("7"),
            st.booleans(),
        ),
        "lock": st.one_of(st.none(), st.text(max_size=6)),
        "schedule_at": st.datetimes(timezones=st.one_of(st.none(), offsets)),
        "schedule_in": st.dictionaries(
            st.sampled_from(["seconds", "days", "weeks", "dayz"]),
            st.integers(min_value=-(10**12), max_value=10**6),
            max_size=2,
        ),
    },
)


def assert_clear_error(exc: Exception) -> None:
    assert isinstance(exc, (TypeError, ValueError, exceptions.ProcrastinateException))
    message = str(exc)
    assert message, repr(exc)
    assert "\n" not in message, message


def assert_stored_as_asked(job: jobs.Job, configure: dict[str, Any]) -> None:
    """No silent change: what was stored is what was asked for."""
    if "priority" in configure:
        assert job.priority == configure["priority"]
        assert type(configure["priority"]) is int
    if configure.get("schedule_at") is not None:
        assert job.scheduled_at == configure["schedule_at"]
    if configure.get("schedule_in") is not None:
        expected = utils.utcnow() + datetime.timedelta(**configure["schedule_in"])
        assert job.scheduled_at is not None
        assert abs(job.scheduled_at - expected) < datetime.timedelta(minutes=1)


@given(kwargs=task_kwargs, configure=options)
async def test_defer_refuses_clearly_or_the_job_runs(
    app: procrastinate.App, kwargs: dict[str, Any], configure: dict[str, Any]
) -> None:
    @app.task(name="accept_all")
    def accept_all(**_: Any) -> None: ...

    before = len(await app.job_manager.list_jobs_async())
    try:
        job_id = await app.configure_task("accept_all", **configure).defer_async(
            **kwargs
        )
    except Exception as exc:
        assert_clear_error(exc)
        assert len(await app.job_manager.list_jobs_async()) == before
        return
    finally:
        app.tasks.pop("accept_all")

    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    assert_stored_as_asked(job, configure)
    if job.scheduled_at is not None and job.scheduled_at > utils.utcnow():
        # Waits for its time: it must at least read back as it was asked.
        assert job.status == jobs.Status.TODO.value
        return
    app.task(name="accept_all")(accept_all.func)
    try:
        await app.run_worker_async(
            queues=[job.queue],
            wait=False,
            listen_notify=False,
            install_signal_handlers=False,
        )
    finally:
        app.tasks.pop("accept_all")
    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    assert job.status in FINAL
