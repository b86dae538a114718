"""Which cron ticks are due: pure decisions of the periodic deferrer."""

from __future__ import annotations

import calendar
import datetime

import pytest

import procrastinate
from procrastinate import exceptions, periodic


def ts(*args: int) -> int:
    return calendar.timegm(datetime.datetime(*args).timetuple())  # type: ignore[arg-type]


def test_first_run_defers_only_the_latest_recent_tick() -> None:
    now = ts(2024, 1, 1, 12, 0, 30)
    assert periodic.due_ticks("* * * * *", now, None, max_delay=600) == [
        ts(2024, 1, 1, 12, 0)
    ]


def test_first_run_ignores_a_tick_older_than_max_delay() -> None:
    now = ts(2024, 1, 1, 12, 30)
    assert periodic.due_ticks("0 * * * *", now, None, max_delay=600) == []


def test_later_runs_catch_up_every_missed_tick() -> None:
    last = ts(2024, 1, 1, 12, 0)
    now = ts(2024, 1, 1, 12, 3, 10)
    assert periodic.due_ticks("* * * * *", now, last, max_delay=600) == [
        ts(2024, 1, 1, 12, 1),
        ts(2024, 1, 1, 12, 2),
        ts(2024, 1, 1, 12, 3),
    ]


def test_six_fields_tick_every_second() -> None:
    last = ts(2024, 1, 1, 12, 0, 0)
    assert periodic.due_ticks("* * * * * *", last + 2, last, max_delay=600) == [
        last + 1,
        last + 2,
    ]


def test_next_tick_is_the_earliest_of_all_crons() -> None:
    now = ts(2024, 1, 1, 12, 0, 10)
    assert periodic.next_tick(["0 * * * *", "* * * * *"], now) == ts(2024, 1, 1, 12, 1)


@pytest.mark.parametrize(
    "cron", ["* * *", "61 * * * *", "every minute", "* * * * * * * *"]
)
def test_bad_cron_is_refused_when_declared(cron: str) -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    with pytest.raises(exceptions.InvalidCronExpression) as excinfo:

        @app.periodic(cron=cron)
        @app.task(name="tick")
        def tick(timestamp: int) -> None: ...

    assert "'tick'" in str(excinfo.value)
    assert repr(cron) in str(excinfo.value)


def test_two_schedules_of_a_task_need_distinct_ids() -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())

    @app.periodic(cron="* * * * *", periodic_id="a")
    @app.periodic(cron="*/5 * * * *", periodic_id="b")
    @app.task
    def tick(timestamp: int) -> None: ...

    assert len(app.periodic_registry.periodic_tasks) == 2
    with pytest.raises(exceptions.TaskAlreadyRegistered):
        app.periodic(cron="* * * * *", periodic_id="a")(tick)


def test_deferrer_due_remembers_ticks() -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())

    @app.periodic(cron="* * * * *")
    @app.task
    def tick(timestamp: int) -> None: ...

    deferrer = periodic.PeriodicDeferrer(app.periodic_registry, max_delay=600)
    now = ts(2024, 1, 1, 12, 0, 30)
    assert [t for _, t in deferrer.due(now)] == [ts(2024, 1, 1, 12, 0)]
    assert deferrer.due(now + 1) == []
    assert [t for _, t in deferrer.due(now + 60)] == [ts(2024, 1, 1, 12, 1)]


def test_blueprint_periodic_tasks_carry_over() -> None:
    blueprint = procrastinate.Blueprint()

    @blueprint.periodic(cron="* * * * *", periodic_id="x")
    @blueprint.task(name="tick")
    def tick(timestamp: int) -> None: ...

    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    app.add_tasks_from(blueprint, namespace="bp")
    assert ("bp:tick", "x") in app.periodic_registry.periodic_tasks
