"""``python -m procrastinate_demo.django_demo``: the ``manage.py`` of the demo."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run a Django management command with the demo's settings."""
    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE", "procrastinate_demo.django_demo.settings"
    )
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"{sys.executable} -m {__package__}", *sys.argv[1:]])


if __name__ == "__main__":
    main()
