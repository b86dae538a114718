"""The demo app. Its connection comes from the libpq ``PG*`` environment variables."""

from __future__ import annotations

import procrastinate

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["procrastinate_demo.tasks"],
)
