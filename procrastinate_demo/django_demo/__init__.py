"""A small Django project using Procrastinate: a library whose books get indexed by
a task, deferred in the same transaction as the book is created.

Run it against the database of the libpq ``PG*`` environment variables::

    python -m procrastinate_demo.django_demo migrate
    python -m procrastinate_demo.django_demo createsuperuser
    python -m procrastinate_demo.django_demo runserver
    python -m procrastinate_demo.django_demo procrastinate worker
"""

from __future__ import annotations
