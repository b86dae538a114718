"""The ``procrastinate`` management command."""

from __future__ import annotations
