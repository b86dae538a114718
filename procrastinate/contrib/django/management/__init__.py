"""Management commands of the Django integration."""

from __future__ import annotations
