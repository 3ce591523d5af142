"""What the terminal can draw, asked once before Textual takes the terminal, in one round trip; textual-image is
imported with the first picture and told the answers instead of asking again.

textual-image asks the terminal three questions when it is imported (Sixel in the device attributes, a Kitty
graphics query, the cell size in pixels), one after another, each waiting up to 0.1 s for a terminal that does not
answer (tmux answers neither of the last two), and it imports Pillow: asked at start-up that way, they kept the first
frame waiting. Here the three questions go out together, followed by a device-attributes request that every
terminal answers, so the wait ends with that answer; and textual-image, Pillow and NumPy load after the first
frame, with the first picture (`textual_image()`).
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from types import ModuleType

KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
"""A Kitty graphics-protocol query (a 1x1 RGB image, checked but not stored): answered `\\x1b_Gi=31;OK\\x1b\\\\`
only by terminals that draw it."""
CELL_SIZE_QUERY = "\x1b[16t"
"""XTWINOPS 16: the cell size in pixels, answered `\\x1b[6;HEIGHT;WIDTHt` where supported."""
ATTRIBUTES_QUERY = "\x1b[c"
"""Primary device attributes, answered `\\x1b[?A;B;...c` by every terminal; attribute 4 is Sixel graphics."""

_ATTRIBUTES = re.compile(rb"\x1b\[\?([\d;]*)c")
_CELL = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_KITTY_OK = re.compile(rb"\x1b_Gi=31;OK\x1b\\")


@dataclass(frozen=True)
class Graphics:
    """The terminal's answers."""

    sixel: bool = False
    kitty: bool = False
    cell: tuple[int, int] | None = None
    """(width, height) of a cell in pixels, when the terminal said."""


def parse(answer: bytes) -> Graphics | None:
    """The answers in what the terminal sent back; None until its device attributes have arrived."""
    attributes = _ATTRIBUTES.search(answer)
    if attributes is None:
        return None
    cell = _CELL.search(answer)
    return Graphics(sixel=b"4" in attributes.group(1).split(b";"), kitty=_KITTY_OK.search(answer) is not None,
                    cell=(int(cell.group(2)), int(cell.group(1))) if cell else None)


_probed: Graphics | None = None


def probe(timeout: float = 0.3) -> Graphics | None:
    """Ask the terminal, once, before Textual starts (Textual's input thread would take the answers). None where
    there is no terminal to ask (tests, a browser, a pipe): textual-image then decides for itself, as it would."""
    global _probed
    out, inp = sys.__stdout__, sys.__stdin__
    if sys.platform == "win32" or not out or not inp or not out.isatty() or not inp.isatty():
        return None
    import select
    import termios
    import tty

    fd = inp.fileno()
    saved = termios.tcgetattr(fd)
    answer = b""
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        out.write(KITTY_QUERY + CELL_SIZE_QUERY + ATTRIBUTES_QUERY)
        out.flush()
        deadline = time.monotonic() + timeout
        while parse(answer) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            answer += os.read(fd, 1024)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    _probed = parse(answer) or Graphics()
    return _probed


def take_terminal() -> None:
    """Before an app takes this terminal: TensorFlow quiet and its native log off the screen, and the terminal
    asked what it can draw. Every app run in a terminal calls this first (`cnn-tui`, `cnn-tui attach`): an app that
    did not would have textual-image ask later, while Textual reads the keys; the answers then arrive as keys (the
    device attributes `\\x1b[?1;2c` as `[`, `?`, `1`, `;`, `2` and `c`, which is a binding) and textual-image's
    wait for them swallows the key the user pressed meanwhile."""
    from tui.core.tfenv import move_native_stderr, quiet_environment

    quiet_environment()
    move_native_stderr()
    probe()


def _cell_size(graphics: Graphics) -> tuple[int, int]:
    """textual-image's own order without asking the terminal again: the tty's pixel size, the terminal's answer,
    the web terminal's variables, a VT340's cell."""
    try:
        from textual_image._terminal import get_tiocgwinsz

        rows, columns, width, height = get_tiocgwinsz()
        if rows and columns and width and height:
            return width // columns, height // rows
    except Exception:
        pass
    if graphics.cell:
        return graphics.cell
    w, h = os.environ.get("TEXTUAL_CELL_WIDTH", ""), os.environ.get("TEXTUAL_CELL_HEIGHT", "")
    return (int(w), int(h)) if w.isdigit() and h.isdigit() else (10, 20)


def textual_image() -> ModuleType:
    """`textual_image.widget`, imported on first use; where `probe` asked the terminal, textual-image is given those
    answers (its own questions would go to Textual's input by now)."""
    if "textual_image.widget" in sys.modules or _probed is None:
        import textual_image.widget

        return textual_image.widget
    import importlib.util

    from textual_image import _terminal

    _terminal.get_cell_size._result = _terminal.CellSize(*_cell_size(_probed))  # type: ignore[attr-defined]
    # The renderable package asks the terminal in its __init__: load its modules first, answer for them, then run it.
    spec = importlib.util.find_spec("textual_image.renderable")
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    try:
        from textual_image.renderable import sixel, tgp

        answers = _probed
        sixel.query_terminal_support = lambda: answers.sixel  # type: ignore[assignment]
        tgp.query_terminal_support = lambda: answers.kitty  # type: ignore[assignment]
        spec.loader.exec_module(package)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    import textual_image.widget

    return textual_image.widget


def method() -> str:
    """How pictures are drawn in this terminal, in words."""
    textual_image()
    from textual_image import renderable as r

    return {r.TGPImage: "Kitty graphics protocol", r.SixelImage: "Sixel", r.HalfcellImage: "half cells",
            r.UnicodeImage: "Unicode blocks"}[r.Image]
