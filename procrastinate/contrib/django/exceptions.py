"""The errors of the Django integration."""

from __future__ import annotations

from procrastinate import exceptions


class DjangoNotReady(exceptions.ProcrastinateException):
    """
    Django is not ready yet: the Procrastinate app only exists once the app registry
    is populated. Declaring tasks with ``@app.task`` works at import time, but opening
    the app, deferring jobs or running workers must wait until after
    ``AppConfig.ready()`` (in views, management commands, or a
    ``PROCRASTINATE_ON_APP_READY`` hook).
    """


class ReadOnlyModel(exceptions.ProcrastinateException):
    """
    Procrastinate's models are read-only: change jobs through the job manager
    (``app.job_manager``) so that the database functions and triggers keep their
    invariants. Set ``PROCRASTINATE_READONLY_MODELS = False`` to lift this at your own
    risk.
    """


class WorkerConnectorUnsupported(exceptions.ProcrastinateException):
    """
    The Django connector cannot listen to PostgreSQL notifications: run workers with
    ``./manage.py procrastinate worker``, which uses the connector of
    ``DjangoConnector.get_worker_connector()``, or give your app a
    ``PsycopgConnector``.
    """
