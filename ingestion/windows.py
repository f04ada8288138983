"""Parallel extraction of time windows: a bounded pool of threads, each paging one window.

A long incremental range (a year of Klaviyo events) is cut into one-day windows at UTC
midnights; the last window is open-ended, so anything newer than the cut is still read.
``workers`` threads take windows in order and page each one serially; their pages reach the
caller through a bounded queue (memory stays a few pages per worker) in whatever order they
finish. The first error in any window stops every worker and is raised to the caller, so
the run fails before dlt commits rows or incremental state: the cursor never moves past a
window that did not complete, and the re-run fetches it again. The workers' HTTP sessions
share one :class:`ingestion.http.SharedBackoff`, so a 429 seen by one pauses them all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DAY = timedelta(days=1)
_PUT_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Window:
    """``[start, end)``; ``end is None`` reads everything from ``start`` on."""

    start: datetime
    end: datetime | None = None


def day_windows(start: datetime, until: datetime) -> list[Window]:
    """``[start, until)`` cut at UTC midnights, then one open-ended window from the last cut."""
    windows: list[Window] = []
    low = start
    cut = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo) + DAY
    while cut <= until:
        windows.append(Window(low, cut))
        low, cut = cut, cut + DAY
    windows.append(Window(low, None))
    return windows


@dataclass(frozen=True)
class _Done:
    pass


@dataclass(frozen=True)
class _Failed:
    window: Window
    error: BaseException


def fetch_windows(
    windows: Iterable[Window], fetch: Callable[[Window], Iterable[Any]], workers: int
) -> Iterator[Any]:
    """Every item ``fetch(window)`` yields, for all windows, fetched by ``workers`` threads.

    Items arrive in completion order. With ``workers <= 1`` the windows are read in order in
    the caller's thread. Closing the iterator early stops the workers.
    """
    pending = list(windows)
    if workers <= 1 or len(pending) <= 1:
        for window in pending:
            yield from fetch(window)
        return
    todo: queue.SimpleQueue[Window] = queue.SimpleQueue()
    for window in pending:
        todo.put(window)
    results: queue.Queue[Any] = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=_PUT_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    window = todo.get_nowait()
                except queue.Empty:
                    break
                try:
                    for item in fetch(window):
                        if not put(item):
                            return
                except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                    put(_Failed(window, error))
                    return
        finally:
            put(_Done())

    threads = [
        threading.Thread(target=work, name=f"window-worker-{n}", daemon=True)
        for n in range(min(workers, len(pending)))
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = results.get()
            if isinstance(item, _Done):
                running -= 1
            elif isinstance(item, _Failed):
                end = item.window.end.isoformat() if item.window.end else "now"
                item.error.add_note(f"in the window {item.window.start.isoformat()} to {end}")
                raise item.error
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
