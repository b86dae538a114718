"""The app of the test project: a model written by a task."""

from __future__ import annotations
