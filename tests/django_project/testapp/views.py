"""A view deferring a job in the request's transaction."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from tests.django_project.testapp import tasks


def greet(request: HttpRequest) -> JsonResponse:
    """Defer a ``greet`` job for ``?name=``; ``&fail=1`` rolls the transaction back
    after deferring, which must cancel the job too."""
    name = request.GET.get("name", "world")
    try:
        with transaction.atomic():
            job_id = tasks.greet.defer(name=name)
            if request.GET.get("fail"):
                raise RuntimeError("Rolled back on purpose")
    except RuntimeError:
        return JsonResponse({"job_id": None}, status=500)
    return JsonResponse({"job_id": job_id})
