"""Django migrations of procrastinate's tables: one per SQL migration file."""

from __future__ import annotations
