"""Splits: stratified and seeded (the same seed, the same split), and the grayscale conversion."""

from __future__ import annotations

import numpy as np


def stratified_pick(y: np.ndarray, k: int, rng: np.random.Generator, *, min_each: bool = False,
                    keep_each: bool = False) -> np.ndarray:
    """Indices of `k` samples of `y` with class proportions kept (largest remainder), in random order.

    min_each: every class gets at least one (when k allows); keep_each: every class keeps one unpicked."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    k = max(0, min(int(k), len(y)))
    exact = counts * (k / max(len(y), 1))
    quota = np.floor(exact).astype(np.int64)
    short = k - int(quota.sum())
    if short > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    if min_each and k >= len(classes):
        for c in np.flatnonzero(quota == 0):
            quota[np.argmax(quota)] -= 1
            quota[c] = 1
    if keep_each:
        quota = np.minimum(quota, counts - 1)
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:q] for c, q in enumerate(quota)]
    out = np.concatenate(picked) if picked else np.empty(0, np.int64)
    return out[rng.permutation(len(out))]


def split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices; about `fraction` held out per class, each class keeping at least one."""
    held = stratified_pick(y, round(len(y) * fraction), rng, keep_each=True)
    mask = np.ones(len(y), bool)
    mask[held] = False
    kept = np.flatnonzero(mask)
    return kept[rng.permutation(len(kept))], held


def take_rows(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``x[order]``, for an `order` that lists each row of x once, built in x's own memory: the rows are permuted
    in place one at a time, so no second copy of the data is ever held (a fancy-indexed copy of CIFAR-10's
    training rows is 150 MB on top of the loaded array: the largest resident set of a run before training
    starts). x is consumed: use only what this returns. Where `order` keeps only some of the rows (a
    ``dataset.train_size`` subset: the copy is smaller than what it lets go), or x is read-only (a view of the
    bytes read from a file), the result is the plain copy ``x[order]``."""
    n = len(x)
    if len(order) < n or not x.flags.writeable:
        return np.asarray(x[order])
    if len(order) != n or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError("take_rows needs each row of the array once")
    placed = order == np.arange(n)
    for start in np.flatnonzero(~placed):  # follow each cycle of the permutation with one row in hand
        if placed[start]:
            continue
        held = x[start].copy()
        j = start
        while order[j] != start:
            x[j] = x[order[j]]
            placed[j] = True
            j = order[j]
        x[j] = held
        placed[j] = True
    return x


def to_gray(x: np.ndarray) -> np.ndarray:
    """RGB uint8 -> one-channel luminance (Pillow's ITU-R 601-2 formula), in chunks; 1-channel is a no-op."""
    if x.shape[-1] == 1:
        return x
    out = np.empty(x.shape[:-1] + (1,), np.uint8)
    for i in range(0, len(x), 4096):
        c = x[i:i + 4096].astype(np.uint32)
        out[i:i + 4096, ..., 0] = (c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16
    return out
