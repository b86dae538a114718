"""The Django app of ``peer_settings``: its ``tasks`` module is found by
procrastinate's autodiscovery."""

from __future__ import annotations
