"""Django integration: install ``"procrastinate.contrib.django"`` in ``INSTALLED_APPS``
and declare tasks on :data:`app`.

:data:`app` can be imported anywhere, at any time: tasks declared before Django is
ready are collected and handed to the real app by ``AppConfig.ready()``.
"""

from __future__ import annotations

from typing import cast

from procrastinate.contrib.django import procrastinate_app
from procrastinate.contrib.django.django_app import DjangoApp
from procrastinate.contrib.django.django_connector import (
    DjangoConnector,
    connector_params,
)
from procrastinate.contrib.django.exceptions import DjangoNotReady, ReadOnlyModel

#: The Procrastinate app of the project (a proxy to the app that Django builds when it
#: is ready).
app = cast(DjangoApp, procrastinate_app.ProxyApp())

__all__ = [
    "DjangoApp",
    "DjangoConnector",
    "DjangoNotReady",
    "ReadOnlyModel",
    "app",
    "connector_params",
]
