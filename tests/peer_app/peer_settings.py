"""Settings of a Django project that procrastinate 3.10 and this version both run; the
database is ``PGDATABASE`` (libpq reads the other ``PG*`` variables)."""

from __future__ import annotations

import os

SECRET_KEY = "procrastinate-upgrade-tests-only"
USE_TZ = True
INSTALLED_APPS = ["procrastinate.contrib.django", "peer_django"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["PGDATABASE"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
