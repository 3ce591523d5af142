"""A share of one core for the UI thread's optional drawing while a run trains: a token bucket over the thread's
own CPU time.

Why one budget: TensorFlow splits each op over both cores here, so whatever holds a core for a few milliseconds
holds the op's other half too, and the app's training throughput loses about twice the UI thread's share of a
core (benchmarks/README.md, throughput round 6). Each part of the training screen spaced by its own cost (status
line, batch chart, epoch charts, table row, doctor and gradient panels, Textual's compositor between them) added up
to 4.4-5 % of a core. The bucket is charged with *everything* the thread did (`time.thread_time`: drawing, the
compositor, key presses, timers), so the sum is bounded however many parts there are and whatever a repaint costs.
"""

from __future__ import annotations

import time
from typing import Callable


class CpuBudget:
    """`share` of one core, saved up to `burst` CPU seconds. Call `update()` on the thread being budgeted (it reads
    that thread's CPU clock); the balance it returns is what may be spent now (negative: overspent).

    `clock` is the time the share is of: the wall clock by default; the training screen's is the run's training
    time (tui.core.monitor.RunMonitor.trained_seconds), so that a run paused, or held back by anything else, earns
    its UI no drawing to spend once it trains again."""

    def __init__(self, share: float, burst: float, *, clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.thread_time) -> None:
        if not 0 < share <= 1 or burst <= 0:
            raise ValueError(f"a budget needs 0 < share <= 1 and burst > 0 (got share {share}, burst {burst})")
        self.share = share
        self.burst = burst
        self.balance = burst
        """CPU seconds that may be spent now: full at the start (the first frame of a run is drawn at once)."""
        self._clock = clock
        self._cpu = cpu
        self._at: tuple[float, float] | None = None

    def update(self) -> float:
        """Refill by `share` × the time `clock` moved on since the last call, less the thread's CPU time
        meanwhile; the balance, at most `burst`."""
        at, cpu = self._clock(), self._cpu()
        if self._at is not None:
            earned = self.share * max(0.0, at - self._at[0])
            self.balance = min(self.burst, self.balance + earned - (cpu - self._at[1]))
        self._at = (at, cpu)
        return self.balance

    def affords(self, cost: float) -> bool:
        """Whether a piece of work estimated at `cost` CPU seconds fits the balance (a cost over `burst` fits a
        full bucket: it is never put off for good)."""
        return self.balance >= min(cost, self.burst)
