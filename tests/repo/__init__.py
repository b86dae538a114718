"""Checks of the repository itself: CI workflows, Dockerfile and packaging."""

from __future__ import annotations
