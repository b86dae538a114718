"""Runs ``03.10.00_44_pre_job_options.sql``: the jobs' own time limit and metadata
(the trace context of their defer), stored by the new defer function."""

from __future__ import annotations

from django.db import migrations, models

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0045_pre_job_results")]

    operations = [
        RunProcrastinateSQL(name="03.10.00_44_pre_job_options.sql"),
        migrations.AddField(
            model_name="procrastinatejob",
            name="timeout",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="procrastinatejob",
            name="metadata",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
