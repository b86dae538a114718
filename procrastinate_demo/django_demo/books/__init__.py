"""The books of the demo library, indexed by a task."""

from __future__ import annotations
