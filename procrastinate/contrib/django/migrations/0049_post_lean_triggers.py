"""Runs ``03.10.00_60_post_lean_triggers.sql``: the statement-level triggers that record
the events and send the notifications of a whole statement at once."""

from __future__ import annotations

from django.db import migrations

from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL


class Migration(migrations.Migration):
    dependencies = [("procrastinate", "0048_post_upgrade_from_3_10")]

    operations = [RunProcrastinateSQL(name="03.10.00_60_post_lean_triggers.sql")]
