"""The admin of jobs, with the Django test client and a superuser."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from procrastinate.contrib.django import models
from tests.django_project.testapp import tasks

CHANGELIST = "/admin/procrastinate/procrastinatejob/"


def set_status(conn: psycopg.Connection[Any], job_id: int, *statuses: str) -> None:
    """Move a job through statuses, as a worker would (the triggers log events)."""
    for status in statuses:
        conn.execute(
            "UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id)
        )


def listed_tasks(content: str) -> list[str]:
    """The task names in the rows of the change list (not in the filters)."""
    return re.findall(r'class="field-task_name">([^<]*)<', content)


def job(job_id: int) -> models.ProcrastinateJob:
    return models.ProcrastinateJob.objects.get(id=job_id)


@pytest.fixture
def failed_job_id(db_connection: psycopg.Connection[Any]) -> int:
    job_id = tasks.fail.configure(priority=4, lock="L", queue="q1").defer()
    set_status(db_connection, job_id, "doing", "failed")
    return job_id


def test_list_shows_the_jobs(admin_client: Any, failed_job_id: int) -> None:
    tasks.greet.defer(name="Ada")

    response = admin_client.get(CHANGELIST)

    content = response.content.decode()
    assert response.status_code == 200
    assert "tests.django_project.testapp.tasks.greet" in content
    assert "tests.django_project.testapp.tasks.fail" in content
    assert "❌ failed" in content
    assert "greetings" in content


@pytest.mark.parametrize(
    ("query", "found", "hidden"),
    [
        ({"status__exact": "failed"}, "tasks.fail", "tasks.greet"),
        ({"queue_name__exact": "greetings"}, "tasks.greet", "tasks.fail"),
        ({"lock": "L"}, "tasks.fail", "tasks.greet"),
        ({"q": "greet"}, "tasks.greet", "tasks.fail"),
    ],
)
def test_list_filters_and_search(
    admin_client: Any,
    failed_job_id: int,
    query: dict[str, str],
    found: str,
    hidden: str,
) -> None:
    tasks.greet.defer(name="Ada")

    content = admin_client.get(CHANGELIST, query).content.decode()

    listed = listed_tasks(content)
    assert any(name.endswith(found) for name in listed)
    assert not any(name.endswith(hidden) for name in listed)


def test_detail_shows_the_events_newest_first(
    admin_client: Any, failed_job_id: int
) -> None:
    response = admin_client.get(f"{CHANGELIST}{failed_job_id}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    positions = [content.index(event) for event in ("failed", "started", "deferred")]
    assert positions == sorted(positions)
    assert "<pre>{}</pre>" in content
    assert 'name="_save"' not in content


def post_action(client: Any, action: str, *job_ids: int) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(job_id) for job_id in job_ids]},
        follow=True,
    )


def test_retry_action_retries_a_failed_job(
    admin_client: Any, failed_job_id: int
) -> None:
    todo_id = tasks.greet.defer(name="Ada")

    response = post_action(admin_client, "retry", failed_job_id, todo_id)

    retried = job(failed_job_id)
    assert (retried.status, retried.priority, retried.queue_name, retried.lock) == (
        "todo",
        4,
        "q1",
        "L",
    )
    assert retried.attempts == 1
    events = models.ProcrastinateEvent.objects.filter(job_id=failed_job_id)
    assert "retried" in {event.type for event in events}
    assert job(todo_id).status == "todo"
    content = response.content.decode()
    assert "1 job(s) retried." in content
    assert "1 job(s) skipped" in content


def test_cancel_action(admin_client: Any) -> None:
    job_id = tasks.greet.defer(name="Ada")

    post_action(admin_client, "cancel", job_id)

    assert job(job_id).status == "cancelled"


def test_abort_action(
    admin_client: Any, db_connection: psycopg.Connection[Any]
) -> None:
    job_id = tasks.greet.defer(name="Ada")
    set_status(db_connection, job_id, "doing")

    post_action(admin_client, "abort", job_id)

    aborting = job(job_id)
    assert (aborting.status, aborting.abort_requested) == ("doing", True)


def test_actions_need_the_change_permission(django_db: str) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_procrastinatejob")
    )
    client = Client()
    client.force_login(viewer)
    job_id = tasks.greet.defer(name="Ada")

    listing = client.get(CHANGELIST)
    post_action(client, "cancel", job_id)

    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()
    assert job(job_id).status == "todo"


def test_pause_and_resume_queues_actions(
    admin_client: Any, db_connection: psycopg.Connection[Any]
) -> None:
    job_id = tasks.greet.defer(name="Ada")
    queue = job(job_id).queue_name

    paused = post_action(admin_client, "pause_queues", job_id).content.decode()
    assert f"Queue(s) paused: {queue}." in paused
    again = post_action(admin_client, "pause_queues", job_id).content.decode()
    assert f"Queue(s) paused already: {queue}." in again
    row = db_connection.execute(
        "SELECT paused FROM procrastinate_queues WHERE queue_name = %s", (queue,)
    ).fetchone()
    assert row == (True,)

    resumed = post_action(admin_client, "resume_queues", job_id).content.decode()
    assert f"Queue(s) resumed: {queue}." in resumed
    row = db_connection.execute(
        "SELECT paused FROM procrastinate_queues WHERE queue_name = %s", (queue,)
    ).fetchone()
    assert row == (False,)


def test_detail_shows_the_result_and_the_error(
    admin_client: Any, db_connection: psycopg.Connection[Any], failed_job_id: int
) -> None:
    db_connection.execute(
        "UPDATE procrastinate_jobs SET error = %s WHERE id = %s",
        (
            '{"type": "builtins.ValueError", "message": "<bad>", '
            '"traceback": "Traceback (most recent call last):\\nValueError: <bad>"}',
            failed_job_id,
        ),
    )
    succeeded = tasks.fail.defer()
    set_status(db_connection, succeeded, "doing", "succeeded")
    db_connection.execute(
        'UPDATE procrastinate_jobs SET result = \'{"value": {"sum": 3}}\' '
        "WHERE id = %s",
        (succeeded,),
    )

    failed_page = admin_client.get(f"{CHANGELIST}{failed_job_id}/change/")
    result_page = admin_client.get(f"{CHANGELIST}{succeeded}/change/")

    failed_content = failed_page.content.decode()
    assert "<strong>builtins.ValueError</strong>: &lt;bad&gt;" in failed_content
    assert "ValueError: &lt;bad&gt;</pre>" in failed_content
    assert "<pre>{\n  &quot;sum&quot;: 3\n}</pre>" in result_page.content.decode()
