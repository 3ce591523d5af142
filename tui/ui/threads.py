"""Background threads of the app: lower priority so the UI thread wins the CPU."""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 5
"""Niceness of the threads that load data, import TensorFlow and train (TensorFlow's own thread pools, created
from them, inherit it): the UI thread wins the CPU for the few milliseconds a key press needs, and training
still gets every cycle the UI leaves idle."""


def lower_thread_priority() -> None:
    """Lower the calling thread's scheduling priority (Linux: per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass
