"""Django migrations of procrastinate's tables: one per SQL migration file.

``0041_squashed_3_10`` stands for the 41 migrations of procrastinate 3.10 (it
``replaces`` them) and only holds the state of the models. After it, each file of
``procrastinate/sql/migrations`` has exactly one twin here, which runs it with
:class:`~procrastinate.contrib.django.migrations_utils.RunProcrastinateSQL`, in the
same order. With a new SQL file ``xx.yy.zz_ab_description.sql``, add
``NNNN_description.py`` (the next number), depending on the previous migration, with
``RunProcrastinateSQL(name="xx.yy.zz_ab_description.sql")``; if the models change
too, add their state operations to it (``makemigrations procrastinate --dry-run``
shows them). ``tests/integration/django/test_migrations.py`` checks all of this.
"""

from __future__ import annotations
