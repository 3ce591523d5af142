"""Typed, validated parameters: the one schema behind config files, `--set`, forms and the key reference.

Every configurable value in cnn-tui is described by a :class:`Param`. The same object validates a value read
from TOML, parses a `--set key=value` string, renders a form field and writes the README's reference table,
so the messages a user sees are the same everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import sys
from typing import Any


def _tomllib() -> Any:
    """The TOML reader, imported on first use (the app's first frame reads no TOML; the import was ~7 ms of it)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli  # pragma: no cover - Python 3.10

    return tomli  # pragma: no cover


def __getattr__(name: str) -> Any:
    """`from tui.core.params import tomllib`: the rest of the code imports the TOML reader from here."""
    if name == "tomllib":
        return _tomllib()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ConfigError(ValueError):
    """A configuration value (or document) that cannot be used, with the key and the file it came from."""

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"

    def with_source(self, source: str) -> "ConfigError":
        return ConfigError(self.key, self.message, source)


@dataclass(frozen=True)
class Param:
    """One configurable value: its type, default, allowed range or choices, and a one-line help text."""

    name: str
    kind: type  # int, float, bool, str or tuple (a list of positive ints)
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    def allowed(self) -> str:
        """What values are allowed, in words (used in messages and the reference table)."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is tuple:
            return "a list of positive integers, e.g. [512, 512]"
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.min_exclusive else '≥'} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.max_exclusive else '≤'} {self.maximum:g}")
        noun = {int: "an integer", float: "a number", str: "text"}[self.kind]
        return noun + (" " + " and ".join(parts) if parts else "")

    def validate(self, value: Any, key: str | None = None) -> Any:
        """Return `value` converted to this parameter's type, or raise ConfigError naming the key."""
        key = key or self.name
        kind = self.kind

        def bad(reason: str = "") -> ConfigError:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            return ConfigError(key, f"{reason or 'got ' + shown}; expected {self.allowed()}")

        if kind is bool:
            if isinstance(value, bool):
                return value
            raise bad()
        if kind is str:
            if not isinstance(value, str):
                raise bad()
            if self.choices is not None and value not in self.choices:
                raise bad(f"{value!r} is not allowed" if len(value) < 60 else "unknown value")
            return value
        if kind is tuple:
            if not isinstance(value, (list, tuple)) or not value or len(value) > 64:
                raise bad()
            out = []
            for item in value:
                if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 65536:
                    raise bad()
                out.append(item)
            return tuple(out)
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                    value = int(value)
                else:
                    raise bad()
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad()
            value = float(value)
            if not math.isfinite(value):
                raise bad(f"{value} is not a finite number")
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value < lo or (self.min_exclusive and value == lo)):
            raise bad(f"{value!r} is out of range")
        if hi is not None and (value > hi or (self.max_exclusive and value == hi)):
            raise bad(f"{value!r} is out of range")
        return value

    def parse_text(self, text: str, key: str | None = None) -> Any:
        """Parse a value typed by a person (a form field or `--set`), then validate it."""
        return self.validate(parse_scalar(text, self.kind), key)

    def format_text(self, value: Any) -> str:
        """The text a person would type for `value` (what a form field shows), the inverse of :meth:`parse_text`:
        ``parse_text(format_text(v)) == v`` for every valid `v`. A list as ``a, b``; text in quotes only where
        parsing would change it (surrounding spaces or quotes); anything else as :func:`format_value` writes it."""
        if self.kind is tuple:
            return ", ".join(str(int(v)) for v in value)
        if self.kind is str:
            text = str(value)
            reads_back = text == text.strip() and not (len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'")
            return text if reads_back else f'"{text}"'
        return format_value(value)


def format_value(value: Any, digits: int | None = None) -> str:
    """A configuration value written for a person, the one way the CLI, the app and the exports write it: true /
    false, a number in its shortest form that reads back as the same number (or to `digits` significant digits),
    a list as ``[a, b]``, anything else as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:.{digits}g}"
        short = f"{value:g}"
        return short if math.isfinite(value) and float(short) == value else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v, digits) for v in value) + "]"
    return str(value)


def parse_scalar(text: str, kind: type) -> Any:
    """Turn text into a Python value using TOML's value syntax; bare words stay strings."""
    text = text.strip()
    if kind is str:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        return text
    if kind is tuple and text and not text.startswith("["):
        text = "[" + text + "]"
    if kind is bool and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return text.lower() in ("true", "yes", "on", "1")
    try:
        return _tomllib().loads(f"v = {text}")["v"]
    except Exception:
        return text
