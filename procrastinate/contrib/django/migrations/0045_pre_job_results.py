"""Runs ``03.10.00_42_pre_job_results.sql``: the jobs' stored result and error, the
functions that write them and the notification of finished jobs."""

from __future__ import annotations

from django.db import migrations, models

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0044_pre_lock_modes_limits")]

    operations = [
        RunProcrastinateSQL(name="03.10.00_42_pre_job_results.sql"),
        migrations.AddField(
            model_name="procrastinatejob",
            name="result",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="procrastinatejob",
            name="error",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
