"""The terminal is asked what it can draw once, in one round trip before Textual starts, and textual-image (loaded
with the first picture, after the first frame) uses those answers instead of asking again."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui.ui.graphics import Graphics, parse

ROOT = Path(__file__).resolve().parents[1]

KITTY = b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;22c"
XTERM_SIXEL = b"\x1b[6;16;8t\x1b[?63;1;2;4;6;9;15;22c"
TMUX = b"\x1b[?1;2c"


@pytest.mark.parametrize("answer, expected", [
    (KITTY, Graphics(sixel=False, kitty=True, cell=(10, 20))),
    (XTERM_SIXEL, Graphics(sixel=True, kitty=False, cell=(8, 16))),
    (TMUX, Graphics()),
])
def test_the_answers_are_read_from_one_reply(answer: bytes, expected: Graphics) -> None:
    assert parse(answer) == expected


def test_no_answer_until_the_device_attributes_arrive() -> None:
    """The probe keeps reading until the reply every terminal sends (the attributes) has come."""
    assert parse(b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t") is None
    assert parse(b"\x1b[?62;4") is None


def in_a_terminal(code: str, reply: bytes | None) -> tuple[str, bytes]:
    """Run `code` with a pseudo-terminal as its stdin/stdout; answer what it asks with `reply` (or not at all).
    Returns what it printed to stderr and everything it wrote to the terminal."""
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdin=slave, stdout=slave,
                             stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(slave)
    written, deadline = b"", time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            written += chunk
            if reply is not None and b"\x1b[c" in chunk:
                os.write(master, reply)
    err = child.communicate(timeout=60)[1].decode()
    os.close(master)
    assert child.returncode == 0, err
    return err, written


def test_one_round_trip_before_textual() -> None:
    err, written = in_a_terminal("""
        import sys, time
        from tui.ui import graphics
        t = time.perf_counter()
        print(graphics.probe(timeout=5.0), round(time.perf_counter() - t, 3), file=sys.stderr)
    """, XTERM_SIXEL)
    assert written.count(b"\x1b[c") == 1 and b"\x1b_G" in written and b"\x1b[16t" in written
    assert "Graphics(sixel=True, kitty=False, cell=(8, 16))" in err
    # the reply ended the wait, not the timeout (5 s here, not the app's 0.3 s: this terminal is a test's relay)
    assert float(err.split()[-1]) < 5.0


@pytest.mark.parametrize("probed, method", [
    ("Graphics(kitty=True)", "Kitty graphics protocol"),
    ("Graphics(sixel=True)", "Sixel"),
    ("Graphics()", "half cells"),
])
def test_textual_image_uses_the_answers_without_asking_again(probed: str, method: str) -> None:
    """Loaded while Textual owns the terminal, textual-image must not write its own questions: their replies would
    arrive as keys."""
    err, written = in_a_terminal(f"""
        import sys
        from tui.ui import graphics
        graphics._probed = graphics.{probed}
        print(graphics.method(), file=sys.stderr)
    """, reply=None)
    assert err.strip().splitlines()[-1] == method
    assert written == b""


@pytest.mark.parametrize("command", ["cnn-tui", "cnn-tui attach"])
def test_each_app_asks_the_terminal_before_it_takes_it(command: str, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """`cnn-tui` and `cnn-tui attach` ask what the terminal can draw before Textual reads its keys. Asked later
    (textual-image asks with the first picture: the test results, the inside view), the reply arrived as keys (`c`
    among them, a binding) and a key pressed while textual-image waited for it was lost."""
    from textual.app import App

    from tui.core import tfenv
    from tui.core.config import ExperimentConfig
    from tui.ui import attach, graphics
    from tui.ui.app import run_app

    order: list[str] = []
    monkeypatch.setattr(tfenv, "quiet_environment", lambda: order.append("TensorFlow quiet"))
    monkeypatch.setattr(tfenv, "move_native_stderr", lambda: order.append("its log off the screen"))
    monkeypatch.setattr(graphics, "probe", lambda: order.append("the terminal asked"))
    monkeypatch.setattr(App, "run", lambda self, *a, **k: order.append(f"{type(self).__name__} runs"))
    monkeypatch.setattr(attach.os, "nice", lambda n: 0)  # (a viewer lowers its priority: not this test's)
    if command == "cnn-tui":
        run_app(ExperimentConfig(), runs_dir=str(tmp_path))
        app = "CnnTuiApp"
    else:
        (tmp_path / "events.jsonl").write_text("")
        attach.cmd_attach(str(tmp_path), None)
        app = "AttachApp"
    assert order == ["TensorFlow quiet", "its log off the screen", "the terminal asked", f"{app} runs"]
