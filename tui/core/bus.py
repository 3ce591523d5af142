"""The one publish/subscribe point of a training session.

The Keras callbacks, the control channel and the session itself publish immutable events
(tui.core.events); everything that reacts to them subscribes: the event log writer (what `cnn-tui attach`, the
browser view and a cluster run copied home read), the doctor, the app's event queue, the headless progress
view, a sweep's or a cluster worker's progress reporter, the notifier. All of them see one stream, in one order.

- Subscribers are called in the order they subscribed (``first=True`` puts one before the others: the event
  log, so that an event is on disk before anyone reacts to it), on the thread that published.
- An event published by a subscriber while it handles another (the doctor's Diagnosis, a stop request) is
  delivered once the event being handled has reached every subscriber: every subscriber sees the same order,
  the one the event log records.
- A subscriber that raises never stops the others or the publisher (training goes on): the first failure of each
  subscriber is published as a :class:`~tui.core.events.SubscriberFailed` event (the app and the headless view
  say so; the event log records it) and logged with its traceback; later failures are logged at debug level.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from tui.core.events import Event, SubscriberFailed

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class EventBus:
    """Publish events to subscribers (see the module's docstring for the order and the failures)."""

    def __init__(self) -> None:
        self._subscribers: tuple[tuple[Subscriber, str], ...] = ()
        self._lock = threading.Lock()
        self._local = threading.local()  # per publishing thread: the events waiting for the one being delivered
        self._failed: list[tuple[Subscriber, str]] = []  # the subscribers whose failure was published

    def subscribe(self, subscriber: Subscriber, *, name: str | None = None,
                  first: bool = False) -> Callable[[], None]:
        """Call `subscriber` with every event published from now on; returns the function that unsubscribes it.
        `name` is what a failure report calls it (default: its qualified name)."""
        entry = (subscriber, name or _name_of(subscriber))
        with self._lock:
            self._subscribers = (entry, *self._subscribers) if first else (*self._subscribers, entry)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(e for e in self._subscribers if e is not entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver `event` to every subscriber (from any thread; never raises what a subscriber raised)."""
        pending: deque[Event] | None = getattr(self._local, "pending", None)
        if pending is not None:  # published by a subscriber: after the event it is handling
            pending.append(event)
            return
        self._local.pending = pending = deque([event])
        try:
            while pending:
                self._deliver(pending.popleft())
        finally:
            self._local.pending = None

    def _deliver(self, event: Event) -> None:
        for entry in self._subscribers:
            subscriber, name = entry
            try:
                subscriber(event)
            except Exception as exc:  # a broken subscriber must not kill training
                if isinstance(event, SubscriberFailed) or any(e is entry for e in self._failed):
                    # said once per subscriber (a subscriber may fail on every batch); a failure to handle the
                    # report itself is only logged
                    log.debug("%s failed on %s", name, type(event).__name__, exc_info=True)
                    continue
                log.warning("%s failed on %s", name, type(event).__name__, exc_info=True)
                self._failed.append(entry)
                self.publish(SubscriberFailed(name, type(event).__name__, _describe(exc)))


def _name_of(subscriber: Subscriber) -> str:
    name = getattr(subscriber, "__qualname__", None) or type(subscriber).__qualname__
    module = getattr(subscriber, "__module__", None) or type(subscriber).__module__
    return f"{module}.{name}" if module else str(name)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
