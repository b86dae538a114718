"""Migrations of the books app."""

from __future__ import annotations
