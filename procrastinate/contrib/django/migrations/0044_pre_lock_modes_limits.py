"""Runs ``03.10.00_40_pre_lock_modes_limits.sql``: the jobs' lock mode and the queue
limits, honoured by the new fetch function."""

from __future__ import annotations

from django.db import migrations, models

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0043_pre_queue_pause")]

    operations = [
        RunProcrastinateSQL(name="03.10.00_40_pre_lock_modes_limits.sql"),
        migrations.AddField(
            model_name="procrastinatejob",
            name="lock_mode",
            field=models.CharField(
                choices=[("ordered", "ordered"), ("mutex", "mutex")],
                default="ordered",
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="ProcrastinateQueueLimit",
            fields=[
                (
                    "queue_name",
                    models.CharField(max_length=128, primary_key=True, serialize=False),
                ),
                ("max_running", models.IntegerField(blank=True, null=True)),
                ("max_starts", models.IntegerField(blank=True, null=True)),
                ("per_seconds", models.FloatField(blank=True, null=True)),
            ],
            options={
                "db_table": "procrastinate_queue_limits",
                "managed": False,
            },
        ),
    ]
