"""URLs of the test project: the admin, and views deferring jobs."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests.django_project.testapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("greet/", views.greet, name="greet"),
    path("add/", views.add, name="add"),
]
