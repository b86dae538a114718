"""URLs of the demo: the library page and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from procrastinate_demo.django_demo.books import views

urlpatterns = [
    path("", views.library, name="library"),
    path("admin/", admin.site.urls),
]
