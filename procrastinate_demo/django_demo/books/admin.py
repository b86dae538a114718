"""The books in the admin (jobs are there too, under Procrastinate)."""

from __future__ import annotations

from django.contrib import admin

from procrastinate_demo.django_demo.books import models

admin.site.register(models.Book)
