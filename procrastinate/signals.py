"""Stopping a worker on SIGINT and SIGTERM: gracefully on the first signal, at once on
the second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop(stop: Callable[[], None], force_stop: Callable[[], None]) -> Iterator[None]:
    """
    Inside the block, the first SIGINT or SIGTERM calls ``stop`` and any later one
    calls ``force_stop``; the handlers found on entry are restored on exit. Outside
    the main thread, or where the event loop cannot handle signals (Windows), nothing
    is installed.
    """
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        logger.debug(
            "Not installing signal handlers: not in the main thread",
            extra={"action": "skip_signal_handlers"},
        )
        yield
        return
    received = 0

    def handle(signum: int) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            logger.info(
                f"Received {name}, stopping gracefully (send it again to stop now)",
                extra={"action": "stopping_worker", "signal": name},
            )
            stop()
            return
        logger.warning(
            f"Received {name} again, aborting the running jobs",
            extra={"action": "force_stopping_worker", "signal": name},
        )
        force_stop()

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    try:
        for sig in SIGNALS:
            loop.add_signal_handler(sig, handle, sig)
    except NotImplementedError:
        logger.warning(
            "Not installing signal handlers: not supported on this platform",
            extra={"action": "skip_signal_handlers"},
        )
        yield
        return
    logger.debug(
        "Installed signal handlers", extra={"action": "install_signal_handlers"}
    )
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
            # remove_signal_handler leaves the default action, which for SIGTERM
            # kills the process: the program's own handler must come back.
            if previous[sig] is not None:
                signal.signal(sig, previous[sig])
        logger.debug(
            "Uninstalled signal handlers", extra={"action": "uninstall_signal_handlers"}
        )
