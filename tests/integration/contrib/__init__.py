"""Tests of procrastinate.contrib against a real database (and a Sphinx build)."""

from __future__ import annotations
