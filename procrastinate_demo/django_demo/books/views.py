"""The library page: the books, and a form that adds one."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from procrastinate_demo.django_demo.books import models, tasks


class BookForm(forms.Form):
    """A new book."""

    title = forms.CharField(max_length=200)
    text = forms.CharField(widget=forms.Textarea, required=False)


def library(request: HttpRequest) -> HttpResponse:
    """List the books; on POST, add a book and defer its indexing.

    The job is deferred in the transaction that creates the book: if anything fails
    before the commit, neither the book nor its job exist, and a worker never sees a
    job for a book that is not there yet.
    """
    form = BookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            book = models.Book.objects.create(**form.cleaned_data)
            tasks.index_book.defer(book_id=book.pk)
        return redirect("library")
    books = models.Book.objects.order_by("-pk")
    return render(request, "books/library.html", {"books": books, "form": form})
