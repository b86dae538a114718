"""The initial schema (``00.01.00_01_pre_initial.sql``), and the state of the
unmanaged models that read it."""

from __future__ import annotations

from django.db import migrations, models

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL

JOB_STATUSES = [
    ("todo", "todo"),
    ("doing", "doing"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
    ("aborting", "aborting"),
    ("aborted", "aborted"),
]

EVENT_TYPES = [
    ("deferred", "deferred"),
    ("started", "started"),
    ("deferred_for_retry", "deferred_for_retry"),
    ("failed", "failed"),
    ("succeeded", "succeeded"),
    ("cancelled", "cancelled"),
    ("abort_requested", "abort_requested"),
    ("aborted", "aborted"),
    ("scheduled", "scheduled"),
    ("retried", "retried"),
]


class Migration(migrations.Migration):
    initial = True

    operations = [
        RunProcrastinateSQL(name="00.01.00_01_pre_initial.sql"),
        migrations.CreateModel(
            name="ProcrastinateWorker",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("last_heartbeat", models.DateTimeField()),
            ],
            options={"db_table": "procrastinate_workers", "managed": False},
        ),
        migrations.CreateModel(
            name="ProcrastinateJob",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue_name", models.CharField(max_length=128)),
                ("task_name", models.CharField(max_length=128)),
                ("priority", models.IntegerField(default=0)),
                ("lock", models.TextField(blank=True, null=True)),
                ("queueing_lock", models.TextField(blank=True, null=True)),
                ("args", models.JSONField(default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=JOB_STATUSES, default="todo", max_length=32
                    ),
                ),
                ("scheduled_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.IntegerField(default=0)),
                ("abort_requested", models.BooleanField(default=False)),
            ],
            options={"db_table": "procrastinate_jobs", "managed": False},
        ),
        migrations.CreateModel(
            name="ProcrastinateEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("type", models.CharField(choices=EVENT_TYPES, max_length=32)),
                ("at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "procrastinate_events",
                "get_latest_by": "at",
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="ProcrastinatePeriodicDefer",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("task_name", models.CharField(max_length=128)),
                ("defer_timestamp", models.BigIntegerField(blank=True, null=True)),
                (
                    "periodic_id",
                    models.CharField(blank=True, default="", max_length=128),
                ),
            ],
            options={"db_table": "procrastinate_periodic_defers", "managed": False},
        ),
    ]
