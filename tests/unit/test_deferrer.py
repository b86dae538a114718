"""The job deferrer, its 3.x place in ``procrastinate.jobs``, and how a task reaches
the job manager of its app."""

from __future__ import annotations

import logging

import pytest

import procrastinate
from procrastinate import deferrer, exceptions, jobs, testing


def test_the_deferrer_keeps_its_3x_path() -> None:
    from procrastinate.jobs import JobDeferrer

    assert JobDeferrer is deferrer.JobDeferrer
    assert jobs.JobDeferrer is deferrer.JobDeferrer


def test_other_missing_names_of_jobs_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="JobDeferer"):
        jobs.JobDeferer  # noqa: B018


def test_a_task_configures_through_its_app_job_manager(
    unopened_app: procrastinate.App,
) -> None:
    @unopened_app.task
    def add(a: int) -> int:
        return a

    configured = add.configure(queue="other")
    assert isinstance(configured, deferrer.JobDeferrer)
    assert configured.job_manager is unopened_app.job_manager
    assert unopened_app.get_job_manager() is unopened_app.job_manager


def test_a_blueprint_has_no_job_manager() -> None:
    blueprint = procrastinate.Blueprint()
    with pytest.raises(exceptions.UnboundTaskError):
        blueprint.get_job_manager()


def test_deferrals_are_logged_where_3x_logged_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task
    def add(a: int) -> int:
        return a

    caplog.set_level(logging.DEBUG, logger="procrastinate.jobs")
    with app.open():
        add.defer(a=1)
    deferrals = [
        (record.name, record.action)  # type: ignore[attr-defined]
        for record in caplog.records
        if "defer" in getattr(record, "action", "")
    ]
    assert deferrals == [
        ("procrastinate.jobs", "about_to_defer_jobs"),
        ("procrastinate.jobs", "jobs_deferred"),
    ]


def test_deferrals_build_no_log_record_when_nobody_listens(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task
    def add(a: int) -> int:
        return a

    def fail(self: object) -> None:
        raise AssertionError("log_context built for a disabled level")

    caplog.set_level(logging.WARNING, logger="procrastinate.jobs")
    monkeypatch.setattr(jobs.Job, "log_context", fail)
    with app.open():
        assert add.batch_defer({"a": 1}, {"a": 2}) == [1, 2]
    assert caplog.records == []
