"""Runs ``03.10.00_46_pre_store_and_fetch.sql``: the functions that store a worker's
outcomes, and store them then fetch its next jobs in one round trip."""

from __future__ import annotations

from django.db import migrations

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0046_pre_job_options")]

    operations = [RunProcrastinateSQL(name="03.10.00_46_pre_store_and_fetch.sql")]
