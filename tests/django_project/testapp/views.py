"""A view deferring a job in the request's transaction."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from tests.django_project.testapp import standard_tasks, tasks


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


def add(request: HttpRequest) -> JsonResponse:
    """Enqueue the Django task ``add`` of ``?a=&b=`` in the request's transaction;
    ``&fail=1`` rolls it back after enqueueing, which must drop the job."""
    a, b = int(request.GET["a"]), int(request.GET["b"])
    try:
        with transaction.atomic():
            result = standard_tasks.add.enqueue(a, b)
            if request.GET.get("fail"):
                raise RuntimeError("Rolled back on purpose")
    except RuntimeError:
        return JsonResponse({"result_id": None}, status=500)
    return JsonResponse({"result_id": result.id})
