"""Benchmarks of the queue, run with scripts/benchmarks (skipped by default)."""

from __future__ import annotations
