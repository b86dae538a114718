"""The ``PROCRASTINATE_ON_APP_READY`` hook of the test project."""

from __future__ import annotations

from procrastinate import App

ready_apps: list[App] = []


def on_app_ready(app: App) -> None:
    """Remember the app, so that the tests can check the hook ran."""
    ready_apps.append(app)
