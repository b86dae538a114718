"""``python -m procrastinate``: the command line."""

from __future__ import annotations

from procrastinate.cli import main

main()
