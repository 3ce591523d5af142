"""Honest figures for noisy machines, shared by the benchmarks.

Every benchmark measures its modes side by side in N interleaved rounds, so each round gives one ratio (mode /
baseline of the same round). The figure is the mean of those ratios with a 95 % confidence interval (Student's t);
a target counts as met only when the whole interval clears it. A "control" ratio (the baseline against a second
run of the baseline in the same rounds) shows how much the machine alone moves a ratio.

Each target is printed as one line starting with ``TARGET`` (benchmarks/run_all.py collects them):

    TARGET chart redraw 100k/100 pts      1.12  95% CI 1.05–1.19  N=7  target ≤ 1.5  met
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# two-sided 95 % Student t quantiles by degrees of freedom (1..30); normal beyond
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % confidence interval of the mean (an infinite interval from a single value)."""
    n = len(values)
    m = statistics.fmean(values)
    if n < 2:
        return m, -math.inf, math.inf
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(n)
    return m, m - half, m + half


def ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-round ratios num[i] / den[i] (both lists in round order)."""
    return [a / b for a, b in zip(num, den)]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


def percentile_ci(values: Sequence[float], p: float) -> tuple[float, float, float]:
    """The p-th percentile with a distribution-free 95 % interval from the order statistics (normal approximation
    to the binomial); an end of the interval past the data is ±inf (too few samples to bound it)."""
    v = sorted(values)
    n = len(v)
    q = p / 100
    half = 1.96 * math.sqrt(n * q * (1 - q))
    lo_rank = math.floor(n * q - half)  # 1-based ranks
    hi_rank = math.ceil(n * q + half) + 1
    lo = v[lo_rank - 1] if lo_rank >= 1 else -math.inf
    hi = v[hi_rank - 1] if hi_rank <= n else math.inf
    return percentile(v, p), lo, hi


def _fmt(x: float, digits: int) -> str:
    return "inf" if math.isinf(x) and x > 0 else "-inf" if math.isinf(x) else f"{x:.{digits}f}"


def target_line(name: str, figure: float, lo: float, hi: float, n: int, *, at_most: float | None = None,
                at_least: float | None = None, unit: str = "", digits: int = 3) -> str:
    """One ``TARGET`` line: met when the whole interval clears the target, missed when the whole interval is on
    the wrong side, otherwise "not shown" (the noise is larger than the distance to the target)."""
    if at_most is not None:
        goal = f"≤ {at_most:g}{unit}"
        verdict = "met" if hi <= at_most else "missed" if lo > at_most else "not shown (interval spans target)"
    elif at_least is not None:
        goal = f"≥ {at_least:g}{unit}"
        verdict = "met" if lo >= at_least else "missed" if hi < at_least else "not shown (interval spans target)"
    else:
        raise ValueError("give at_most or at_least")
    return (f"TARGET {name:<38}{_fmt(figure, digits):>9}{unit}  95% CI {_fmt(lo, digits)}–{_fmt(hi, digits)}  "
            f"N={n:<3} target {goal}  {verdict}")


def control_line(name: str, values: Sequence[float], digits: int = 3) -> str:
    """The bare-vs-bare control: the same thing measured twice per round; its interval is the machine's noise."""
    m, lo, hi = mean_ci(values)
    return (f"CONTROL {name:<37}{_fmt(m, digits):>9}  95% CI {_fmt(lo, digits)}–{_fmt(hi, digits)}  "
            f"N={len(values)}  (should be 1.000; its spread is the noise)")
