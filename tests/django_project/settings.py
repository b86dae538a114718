"""Settings of the test project.

The database comes from the libpq environment: ``PGDATABASE`` names it (``PGHOST``,
``PGUSER``... are read by libpq itself), so that a test can point a subprocess at its
own database.
"""

from __future__ import annotations

import importlib.util
import os

SECRET_KEY = "procrastinate-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "procrastinate.contrib.django",
    "tests.django_project.testapp",
]
# Before Django 6.0, Django's task API comes from the django-tasks backport, an app.
if importlib.util.find_spec("django.tasks") is None:
    INSTALLED_APPS.append("django_tasks")

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.django_project.urls"

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
        "NAME": os.environ.get("PGDATABASE", "procrastinate_django_tests"),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

PROCRASTINATE_ON_APP_READY = "tests.django_project.testapp.hooks.on_app_ready"
PROCRASTINATE_WORKER_DEFAULTS = {"fetch_job_polling_interval": 0.1}

TASKS = {
    "default": {
        "BACKEND": "procrastinate.contrib.django.tasks.ProcrastinateBackend",
        "QUEUES": ["default", "reports"],
        "OPTIONS": {
            "TASKS": {
                "tests.django_project.testapp.standard_tasks.flaky": {"retry": 1},
            },
        },
    }
}
