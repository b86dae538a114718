"""The state of the (unmanaged) models, in place of the migrations of procrastinate 3.10.

It replaces (squashes) the 41 Django migrations of procrastinate 3.10: a project whose
history holds them all counts it as applied, and goes on with the next migrations,
which upgrade its tables. A new project applies it, which touches no table; the next
migration creates them all.
"""

from __future__ import annotations

from django.db import migrations, models

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
    replaces = [
        ("procrastinate", "0001_initial"),
        ("procrastinate", "0002_drop_started_at_column"),
        ("procrastinate", "0003_drop_started_at_column"),
        ("procrastinate", "0004_drop_procrastinate_version_table"),
        ("procrastinate", "0005_fix_procrastinate_fetch_job"),
        ("procrastinate", "0006_fix_trigger_status_events_insert"),
        ("procrastinate", "0007_add_queueing_lock_column"),
        ("procrastinate", "0008_close_fetch_job_race_condition"),
        ("procrastinate", "0009_add_defer_job_function"),
        ("procrastinate", "0010_add_procrastinate_periodic_defers"),
        ("procrastinate", "0011_add_foreign_key_index"),
        ("procrastinate", "0012_add_locks_to_periodic_defer"),
        ("procrastinate", "0013_fix_procrastinate_defer_periodic_job"),
        ("procrastinate", "0014_add_finish_job_and_retry_job_functions"),
        ("procrastinate", "0015_add_trigger_on_job_deletion"),
        ("procrastinate", "0016_delete_finished_jobs"),
        ("procrastinate", "0017_add_checks_to_finish_job"),
        ("procrastinate", "0018_add_checks_to_retry_job"),
        ("procrastinate", "0019_fix_finish_job_compat_issue"),
        ("procrastinate", "0020_add_index_on_procrastinate_jobs"),
        ("procrastinate", "0021_add_kwargs_to_defer_periodic_job"),
        ("procrastinate", "0022_null_locks_excluded"),
        ("procrastinate", "0023_remove_old_finish_job_function"),
        ("procrastinate", "0024_job_id_bigint"),
        ("procrastinate", "0025_add_models"),
        ("procrastinate", "0026_add_job_priority"),
        ("procrastinate", "0027_add_periodic_job_priority"),
        ("procrastinate", "0028_add_cancel_states"),
        ("procrastinate", "0029_add_additional_params_to_retry_job"),
        ("procrastinate", "0030_alter_procrastinateevent_options"),
        ("procrastinate", "0031_add_indexes_for_fetch_job"),
        ("procrastinate", "0032_pre_cancel_notification"),
        ("procrastinate", "0033_post_cancel_notification"),
        ("procrastinate", "0034_pre_add_heartbeat"),
        ("procrastinate", "0035_post_add_heartbeat"),
        ("procrastinate", "0036_add_worker_model"),
        ("procrastinate", "0037_pre_batch_defer_jobs"),
        ("procrastinate", "0038_post_batch_defer_jobs"),
        ("procrastinate", "0039_pre_priority_lock_fetch_job"),
        ("procrastinate", "0040_pre_retry_failed_job"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
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
