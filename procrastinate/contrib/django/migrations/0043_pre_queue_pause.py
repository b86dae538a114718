"""Runs ``03.10.00_30_pre_queue_pause.sql``: the state of paused queues, and the fetch
that skips them."""

from __future__ import annotations

from django.db import migrations

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0042_pre_upgrade_from_3_10")]

    operations = [RunProcrastinateSQL(name="03.10.00_30_pre_queue_pause.sql")]
