"""A run's epoch history held compactly: one double per column per epoch, not a dict per epoch.

The session's record of every epoch (tui.core.keras.progress.EventCallback.history, which the summary is written
from) keeps the whole run: a dict of ~14 floats is ~1 KB, and such dicts (this record's and the doctor's, which
now keeps only a window: tui.core.diagnostics.common.EpochLog) were most of what a long run still grew by. Here a
row costs 8 bytes a column.

:class:`EpochHistory` reads as a sequence of read-only rows (``history[i]["loss"]``, ``h.get("partial")``,
``for h in history``), each row a mapping with the keys and the value types it was appended with (the epoch an
int, ``partial`` a bool, the metrics floats), so code written for a list of dicts reads it unchanged.
:meth:`EpochHistory.column` gives one column as a list at C speed, for rules that read a whole series.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

_FLOAT, _INT, _BOOL = "f", "i", "b"


class EpochRow(Mapping[str, Any]):
    """One epoch of an :class:`EpochHistory`, read in place (nothing is copied)."""

    __slots__ = ("_history", "_index")

    def __init__(self, history: EpochHistory, index: int) -> None:
        self._history = history
        self._index = index

    def __getitem__(self, key: str) -> Any:
        value = self._history._value(self._index, key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._history._value(self._index, key)
        return default if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return key in self._history._shape_of(self._index)

    def __iter__(self) -> Iterator[str]:
        return iter(self._history._shape_of(self._index))

    def __len__(self) -> int:
        return len(self._history._shape_of(self._index))

    def __repr__(self) -> str:
        return repr(dict(self))


_MISSING: Any = object()


class EpochHistory(Sequence[EpochRow]):
    """Epoch rows appended in order, stored column by column in arrays of doubles (ints and bools round-trip:
    a column remembers each row's type through the row's shape, the tuple of its keys and kinds)."""

    __slots__ = ("_columns", "_shapes", "_shape_ids", "_row_shape", "_others", "_lacking", "__weakref__")

    def __init__(self, rows: Iterable[Mapping[str, Any]] = ()) -> None:
        self._columns: dict[str, array[float]] = {}
        self._shapes: list[dict[str, str]] = []
        """Each distinct row shape: {key: kind} in the row's key order (a run has one or two)."""
        self._shape_ids: dict[tuple[tuple[str, str], ...], int] = {}
        self._row_shape: array[int] = array("I")
        """The shape of each row (an index into _shapes)."""
        self._others: dict[tuple[int, str], Any] = {}
        """Values that are not numbers (none in a run's history; kept rather than refused)."""
        self._lacking: set[str] = set()
        """Keys some row lacks (their column() is None)."""
        for row in rows:
            self.append(row)

    def append(self, row: Mapping[str, Any]) -> None:
        i = len(self._row_shape)
        shape: list[tuple[str, str]] = []
        for key, value in row.items():
            if value is None:  # absent, as h.get(key) reads it
                continue
            if isinstance(value, bool):
                kind, number = _BOOL, float(value)
            elif isinstance(value, int):
                kind, number = _INT, float(value)
            elif isinstance(value, float):
                kind, number = _FLOAT, value
            else:
                try:
                    kind, number = _FLOAT, float(value)  # numpy scalars
                except (TypeError, ValueError):
                    kind, number = "o", math.nan
                    self._others[(i, key)] = value
            column = self._columns.get(key)
            if column is None:
                column = self._columns[key] = array("d", [math.nan]) * i  # rows before it lack the key
                if i:
                    self._lacking.add(key)
            column.append(number)
            shape.append((key, kind))
        for key, column in self._columns.items():  # keys this row lacks
            if len(column) == i:
                column.append(math.nan)
                self._lacking.add(key)
        ident = tuple(shape)
        sid = self._shape_ids.get(ident)
        if sid is None:
            sid = self._shape_ids[ident] = len(self._shapes)
            self._shapes.append(dict(shape))
        self._row_shape.append(sid)

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.append(row)

    def __len__(self) -> int:
        return len(self._row_shape)

    @overload
    def __getitem__(self, index: int) -> EpochRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[EpochRow]: ...

    def __getitem__(self, index: int | slice) -> EpochRow | list[EpochRow]:
        n = len(self._row_shape)
        if isinstance(index, slice):
            return [EpochRow(self, i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("epoch history index out of range")
        return EpochRow(self, index)

    def __iter__(self) -> Iterator[EpochRow]:
        return (EpochRow(self, i) for i in range(len(self._row_shape)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (EpochHistory, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        return f"EpochHistory({[dict(r) for r in self]!r})"

    def rows(self) -> list[dict[str, Any]]:
        """Every row as a plain dict (a copy: for JSON, for code that mutates rows)."""
        return [dict(r) for r in self]

    def columns(self) -> list[str]:
        """Every column's name, in the order they first appeared."""
        return list(self._columns)

    def column(self, key: str) -> list[float] | None:
        """Every row's `key` as floats, or None when a row lacks it (what the doctor's rules read)."""
        column = self._columns.get(key)
        if column is None or key in self._lacking:
            return None
        return column.tolist()

    # -- what a row reads ----------------------------------------------------------------------------------------
    def _shape_of(self, index: int) -> dict[str, str]:
        return self._shapes[self._row_shape[index]]

    def _value(self, index: int, key: str) -> Any:
        kind = self._shapes[self._row_shape[index]].get(key)
        if kind is None:
            return _MISSING
        value = self._columns[key][index]
        if kind == _FLOAT:
            return value
        if kind == _INT:
            return int(value)
        if kind == _BOOL:
            return bool(value)
        return self._others[(index, key)]
