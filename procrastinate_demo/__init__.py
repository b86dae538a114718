"""A small app showing Procrastinate at work: ``python -m procrastinate_demo``."""

from __future__ import annotations
