"""Acceptance tests: the real procrastinate command against a real database."""

from __future__ import annotations
