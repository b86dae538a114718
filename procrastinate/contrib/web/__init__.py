"""A web dashboard of the queues (the ``web`` extra: Starlette, Jinja2, uvicorn).

Server-rendered pages, no JavaScript: the queues with their live jobs and oldest ready
job, the throughput of the last hour, the jobs (filtered, paginated), one job with its
events, the workers; retry, cancel and abort as CSRF-protected forms.
``procrastinate web`` serves it; :func:`make_app` gives the ASGI application, to mount
in another one.
"""

from __future__ import annotations

try:
    import jinja2  # noqa: F401
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "The dashboard needs Starlette and Jinja2: pip install 'procrastinate[web]'"
    ) from exc

from procrastinate.contrib.web.dashboard import make_app
from procrastinate.contrib.web.security import Credential

__all__ = ["Credential", "make_app"]
