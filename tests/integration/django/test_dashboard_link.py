"""The admin of jobs links to the web dashboard when PROCRASTINATE_DASHBOARD_URL is
set."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from tests.django_project.testapp import tasks

CHANGELIST = "/admin/procrastinate/procrastinatejob/"


def test_no_link_by_default(admin_client: Any) -> None:
    job_id = tasks.greet.defer(name="Ada")
    assert "dashboard" not in admin_client.get(CHANGELIST).content.decode()
    detail = admin_client.get(f"{CHANGELIST}{job_id}/change/").content.decode()
    assert "View in the dashboard" not in detail


@override_settings(PROCRASTINATE_DASHBOARD_URL="/ops/queue")
def test_links_to_the_dashboard(admin_client: Any) -> None:
    job_id = tasks.greet.defer(name="Ada")
    changelist = admin_client.get(CHANGELIST).content.decode()
    assert '<a href="/ops/queue/">Open the dashboard</a>' in changelist
    detail = admin_client.get(f"{CHANGELIST}{job_id}/change/").content.decode()
    assert f'<a href="/ops/queue/jobs/{job_id}">View in the dashboard</a>' in detail
