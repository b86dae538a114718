"""The ``PROCRASTINATE_*`` Django settings, with their defaults.

Values are read from :mod:`django.conf.settings` each time, so that
``override_settings`` in tests takes effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings

from procrastinate import app as app_module

PREFIX = "PROCRASTINATE_"

_MISSING = object()


def _get(name: str, default: Any) -> Any:
    value = getattr(django_settings, f"{PREFIX}{name}", _MISSING)
    return default if value is _MISSING else value


class Settings:
    """Typed access to the ``PROCRASTINATE_*`` settings."""

    @property
    def autodiscover_module_name(self) -> str | None:
        """``PROCRASTINATE_AUTODISCOVER_MODULE_NAME``: the module of each installed
        app that declares tasks (default ``"tasks"``; ``None`` disables)."""
        value: str | None = _get("AUTODISCOVER_MODULE_NAME", "tasks")
        return value

    @property
    def import_paths(self) -> list[str]:
        """``PROCRASTINATE_IMPORT_PATHS``: more modules declaring tasks."""
        return list(_get("IMPORT_PATHS", None) or [])

    @property
    def database_alias(self) -> str:
        """``PROCRASTINATE_DATABASE_ALIAS``: the Django database holding the jobs."""
        return str(_get("DATABASE_ALIAS", "default"))

    @property
    def worker_defaults(self) -> app_module.WorkerOptions:
        """``PROCRASTINATE_WORKER_DEFAULTS``: default options of the workers."""
        value: app_module.WorkerOptions = dict(_get("WORKER_DEFAULTS", None) or {})  # type: ignore[assignment]
        return value

    @property
    def dashboard_url(self) -> str | None:
        """``PROCRASTINATE_DASHBOARD_URL``: where the web dashboard
        (``procrastinate.contrib.web``) is served, e.g. ``"/procrastinate/"``; the
        admin of jobs links to it when set (default ``None``: no link)."""
        value = _get("DASHBOARD_URL", None)
        return str(value).rstrip("/") + "/" if value else None

    @property
    def periodic_defaults(self) -> dict[str, Any]:
        """``PROCRASTINATE_PERIODIC_DEFAULTS``: options of the periodic tasks."""
        return dict(_get("PERIODIC_DEFAULTS", None) or {})

    @property
    def on_app_ready(self) -> str | Callable[[Any], None] | None:
        """``PROCRASTINATE_ON_APP_READY``: dotted path of a callable (or the callable)
        receiving the app once it is created."""
        value: str | Callable[[Any], None] | None = _get("ON_APP_READY", None)
        return value

    @property
    def readonly_models(self) -> bool:
        """``PROCRASTINATE_READONLY_MODELS``: refuse writes through the models."""
        return bool(_get("READONLY_MODELS", True))


settings = Settings()
