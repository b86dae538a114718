"""Settings of the Django demo.

The database is the one of the libpq environment (``PGHOST``, ``PGUSER``,
``PGPASSWORD``... are read by libpq itself); ``PGDATABASE`` names it.
"""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "procrastinate.contrib.django",
    "procrastinate_demo.django_demo.books",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "procrastinate_demo.django_demo.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "procrastinate"),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Procrastinate: tasks are found in each app's tasks.py; these are the worker options
# used when the command line does not override them.
PROCRASTINATE_WORKER_DEFAULTS = {"concurrency": 2, "delete_jobs": "successful"}
PROCRASTINATE_ON_APP_READY = "procrastinate_demo.django_demo.books.tasks.on_app_ready"

# The worker's logs, with the fields procrastinate adds to each record (the job, its
# task, the worker) available to a structured formatter.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
    "loggers": {"procrastinate": {"handlers": ["console"], "level": "INFO"}},
}
