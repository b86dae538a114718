"""Runs ``03.10.00_01_pre_upgrade_from_3_10.sql``: the upgrade from procrastinate 3.10 to
apply before deploying the new code (on a new project, it creates every table)."""

from __future__ import annotations

from django.db import migrations

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0041_squashed_3_10")]

    operations = [RunProcrastinateSQL(name="03.10.00_01_pre_upgrade_from_3_10.sql")]
