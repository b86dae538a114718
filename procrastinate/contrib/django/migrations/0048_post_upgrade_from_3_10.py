"""Runs ``03.10.00_50_post_upgrade_from_3_10.sql``: the upgrade from procrastinate 3.10 to
apply once no procrastinate 3.10 process is left (on a new project, it only records itself)."""

from __future__ import annotations

from django.db import migrations

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0047_pre_store_and_fetch")]

    operations = [RunProcrastinateSQL(name="03.10.00_50_post_upgrade_from_3_10.sql")]
