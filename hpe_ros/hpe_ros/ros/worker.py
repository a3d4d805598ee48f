"""One inference thread that never queues: a frame arriving while one is pending replaces it (a drop).

The executor thread only hands frames over (:meth:`DropInFlightWorker.submit` never blocks on inference), so
callbacks stay responsive and latency stays bounded at one frame in flight plus one pending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestOnlySlot(Generic[T]):
    """At most one pending item; :meth:`offer` while one is pending replaces it and returns the old one."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._full = False

    def offer(self, item: T) -> T | None:
        """Make ``item`` the pending one; return the item it replaced (dropped), or None."""
        dropped = self._item if self._full else None
        self._item, self._full = item, True
        return dropped

    def take(self) -> T | None:
        """The pending item (None when empty); the slot is empty afterwards."""
        item, self._item, self._full = self._item, None, False
        return item

    @property
    def pending(self) -> bool:
        return self._full


class DropInFlightWorker(Generic[T]):
    """Runs ``handle(item)`` on one background thread for the newest submitted item.

    ``on_drop(item)`` is called (on the submitting thread) for every item replaced before it was handled;
    ``on_error(exc)`` (on the worker thread) for an exception from ``handle``, after which the worker goes on.
    """

    def __init__(
        self,
        handle: Callable[[T], None],
        on_drop: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "hpe-inference",
    ) -> None:
        self._handle = handle
        self._on_drop = on_drop
        self._on_error = on_error
        self._slot: LatestOnlySlot[T] = LatestOnlySlot()
        self._wake = threading.Condition()
        self._stopping = False
        self.handled = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Hand ``item`` over without waiting; False when it replaced a pending item (counted as dropped)."""
        with self._wake:
            dropped = self._slot.offer(item)
            if dropped is not None:
                self.dropped += 1
            self._wake.notify()
        if dropped is not None and self._on_drop is not None:
            self._on_drop(dropped)
        return dropped is None

    def stop(self, timeout_s: float | None = None) -> None:
        """Finish the item being handled, discard a pending one and end the thread."""
        with self._wake:
            self._stopping = True
            self._slot.take()
            self._wake.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._slot.pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                item = self._slot.take()
            try:
                self._handle(item)  # type: ignore[arg-type]
            except Exception as error:  # the worker must survive a bad frame
                if self._on_error is not None:
                    self._on_error(error)
            self.handled += 1
