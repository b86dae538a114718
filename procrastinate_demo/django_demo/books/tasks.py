"""The tasks of the demo, found by autodiscovery (``<app>/tasks.py``)."""

from __future__ import annotations

import logging

from django.utils import timezone

from procrastinate import App
from procrastinate.contrib.django import app
from procrastinate_demo.django_demo.books import models

logger = logging.getLogger(__name__)


@app.task(queue="books", retry=3)
def index_book(book_id: int) -> int:
    """Count the words of a book, then tell the readers about it (a second job)."""
    book = models.Book.objects.get(pk=book_id)
    book.word_count = len(book.text.split())
    book.indexed_at = timezone.now()
    book.save(update_fields=["word_count", "indexed_at"])
    announce_book.defer(book_id=book_id)
    return book.word_count


@app.task(queue="books")
async def announce_book(book_id: int) -> None:
    """Announce a new book (an async task, using the async ORM)."""
    book = await models.Book.objects.aget(pk=book_id)
    logger.info(f"New book: {book.title} ({book.word_count} words)")


def on_app_ready(ready_app: App) -> None:
    """The ``PROCRASTINATE_ON_APP_READY`` hook: here, only a log line."""
    logger.debug(f"Procrastinate app ready with {len(ready_app.tasks)} tasks")
