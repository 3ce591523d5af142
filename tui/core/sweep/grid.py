"""The grid of a sweep: axes and their values as a person types them, checked by each key's own rules."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.core.config import ExperimentConfig, param_for
from tui.core.params import ConfigError, Param, parse_scalar, tomllib


MAX_CELLS = 1000
_RANGE = re.compile(r"(-?\d+)\s*\.\.\s*(-?\d+)")


# -- the grid -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[-1]


def _param(key: str, architecture: str) -> Param:
    try:
        return param_for(key, architecture)
    except ConfigError:
        from models import ARCHITECTURES

        arch = ARCHITECTURES.get(architecture)
        own = ", ".join(f"model.{p.name}" for p in arch.params) if arch else ""
        raise ConfigError(key, "unknown key; keys look like section.name (as in --set), e.g. training.batch_size"
                               + (f"; {architecture}'s own parameters are {own}" if own else "")) from None


def _split(text: str) -> list[str]:
    """Split on commas outside brackets (so list values like [64, 32] stay whole)."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return items


def _series(key: str, param: Param, items: list[str]) -> list[Any]:
    """Expand ``a, b, ..., z`` (and ``a, b, c, ..., z``): geometric when b/a is a whole ratio ≥ 2 that reaches
    z exactly (2,4,...,256 doubles), otherwise arithmetic with step b − a (10,20,...,100)."""
    if param.kind not in (int, float) or items.count("...") != 1 or items.index("...") != len(items) - 2 \
            or len(items) < 4:
        raise ConfigError(key, "a series looks like 2,4,...,256 (two or more terms, '...', then the last term)")
    nums = []
    for item in items[:-2] + items[-1:]:
        value = parse_scalar(item, param.kind)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"{item!r} is not a number; a series needs numbers, e.g. 2,4,...,256")
        nums.append(value)
    *head, end = nums
    a, b = head[0], head[1]

    def fix(v: float) -> Any:
        return round(v) if param.kind is int else float(f"{v:.12g}")

    def close(x: float, y: float) -> bool:
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)

    ratio = b / a if a else 0.0
    geometric = a > 0 and ratio >= 2 - 1e-9 and all(close(h, a * ratio ** i) for i, h in enumerate(head)) and \
        close(math.log(end / a, ratio) if end > 0 else -1, round(math.log(end / a, ratio)) if end > 0 else 0)
    step = b - a
    if not geometric and (step == 0 or not all(close(h, a + step * i) for i, h in enumerate(head))):
        raise ConfigError(key, f"{', '.join(items[:-2])} is neither an arithmetic nor a doubling-style series")
    out: list[Any] = []
    i = 0
    while len(out) <= MAX_CELLS:
        v = fix(a * ratio ** i if geometric else a + step * i)
        if (v > end and not close(v, end)) if (geometric or step > 0) else (v < end and not close(v, end)):
            break
        out.append(v)
        i += 1
    if not out or not close(out[-1], end):
        raise ConfigError(key, f"the series {', '.join(items[:-1])} does not reach {items[-1]}; "
                               f"check the last term")
    return out


def parse_values(key: str, text: str, architecture: str) -> tuple[Any, ...]:
    """Values for one key from text: ``2..11`` (integers, inclusive), ``2,4,...,256`` (a series), or a comma
    list (``relu,sigmoid``); each checked with the key's own Param rules."""
    param = _param(key, architecture)
    text = text.strip()
    if not text:
        raise ConfigError(key, "no values; give a list like 2,4,8, a range like 2..11 or a series like 2,4,...,256")
    match = _RANGE.fullmatch(text)
    if match:
        if param.kind is not int:
            raise ConfigError(key, f"a range like {text} needs an integer key; {key} takes {param.allowed()}, "
                                   "so list the values")
        lo, hi = int(match[1]), int(match[2])
        if hi < lo:
            raise ConfigError(key, f"the range {text} is empty; write the smaller value first")
        if hi - lo >= MAX_CELLS:
            raise ConfigError(key, f"the range {text} has more than {MAX_CELLS} values")
        raw: list[Any] = list(range(lo, hi + 1))
        return _checked_values(key, param, raw)
    items = _split(text)
    if "..." in items:
        return _checked_values(key, param, _series(key, param, items))
    if any(not item for item in items):
        raise ConfigError(key, f"an empty value in {text!r}; separate values with single commas")
    return _checked_values(key, param, [param.parse_text(item, key) for item in items])


def _checked_values(key: str, param: Param, values: Sequence[Any]) -> tuple[Any, ...]:
    out = tuple(param.validate(v, key) for v in values)
    seen = set()
    for v in out:
        if v in seen:
            raise ConfigError(key, f"the value {v!r} is listed twice")
        seen.add(v)
    return out


@dataclass(frozen=True)
class SweepSpec:
    """What to run: the base experiment (per-cell budget applied) and one or two axes."""

    base: ExperimentConfig
    axes: tuple[Axis, ...]
    epochs: int | None = None
    train_size: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    def cells(self) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
        """(index, {key: value}) for every cell, row by row."""
        if len(self.axes) == 1:
            return [((i,), {self.axes[0].key: v}) for i, v in enumerate(self.axes[0].values)]
        a, b = self.axes
        return [((i, j), {a.key: va, b.key: vb}) for i, va in enumerate(a.values) for j, vb in enumerate(b.values)]

    def config_for(self, values: Mapping[str, Any]) -> ExperimentConfig:
        return self.base.with_values(values, source="sweep")


def make_spec(base: ExperimentConfig, grid: Sequence[tuple[str, Any]], epochs: int | None = None,
              train_size: int | None = None) -> SweepSpec:
    """Validate a grid (``[(key, "2..11" or [2, 3]), ...]``, one or two keys) and a budget into a SweepSpec.

    Every cell's configuration is built here, so a value that only fails in combination is refused up front."""
    if not 1 <= len(grid) <= 2:
        raise ConfigError("", f"a sweep takes one or two keys (got {len(grid)}); e.g. --grid model.conv_filters=2..11")
    budget: dict[str, Any] = {}
    if epochs is not None:
        budget["training.epochs"] = epochs
    if train_size is not None:
        budget["dataset.train_size"] = train_size
    if budget:
        base = base.with_values(budget, source="sweep budget")
    axes: list[Axis] = []
    for key, values in grid:
        key = key.strip()
        if any(a.key == key for a in axes):
            raise ConfigError(key, "the same key is swept twice; give each key once")
        arch = base.model.architecture
        if isinstance(values, str):
            parsed = parse_values(key, values, arch)
        elif isinstance(values, (list, tuple)) and values:
            parsed = _checked_values(key, _param(key, arch), values)
        else:
            raise ConfigError(key, "values must be text like 2..11 or a non-empty list like [2, 4, 8]")
        axes.append(Axis(key, parsed))
    spec = SweepSpec(base, tuple(axes), epochs, train_size)
    if math.prod(spec.shape) > MAX_CELLS:
        raise ConfigError("", f"the grid has {math.prod(spec.shape)} cells; at most {MAX_CELLS}")
    for _, values in spec.cells():
        spec.config_for(values)
    return spec


def parse_grid_option(text: str) -> tuple[str, str]:
    """Split a ``--grid key=values`` option."""
    key, eq, values = text.partition("=")
    if not eq or "." not in key:
        raise ConfigError(key.strip(), "a grid looks like section.key=values, e.g. model.conv_filters=2..11")
    return key.strip(), values


def read_preset_sweep(path: str | Path) -> dict[str, Any]:
    """The ``[sweep]`` table of a preset (``grid``, ``epochs``, ``train_size``), checked for shape; {} if none."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("", f"cannot read: {exc}", source) from None
    table = data.get("sweep")
    if table is None:
        return {}
    allowed = ("grid", "epochs", "train_size")
    for k in table:
        if k not in allowed:
            raise ConfigError(f"sweep.{k}", f"unknown key; [sweep] allows {', '.join(allowed)}", source)
    grid = table.get("grid")
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("sweep.grid", 'must be a table like grid = { "model.conv_filters" = "2..11" }', source)
    for k in ("epochs", "train_size"):
        if k in table and (isinstance(table[k], bool) or not isinstance(table[k], int) or table[k] < 0):
            raise ConfigError(f"sweep.{k}", "must be a whole number", source)
    return {"grid": list(grid.items()), "epochs": table.get("epochs"), "train_size": table.get("train_size")}


