"""Answers each key as cnn-tui answers `g` in benchmarks/latency.py: the screen switches between "loss" and
"learning rate" (what latency.py's `presses` looks for). The bare runs' harness pane runs it, so that the presses and
looks cost the bare side what they cost the app's.

The terminal stays in cbreak mode throughout: a shell loop (`read -rsn1`, then `clear` and `echo`) switched the
terminal's mode at every key and lost a few keys a round (11 in latency round 8's four rounds), each leaving the
bare run's harness idle for latency.MISSED seconds."""

import os
import sys
import tty


def show(text: str) -> None:
    sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    tty.setcbreak(0)
    second = False
    show("loss")
    while os.read(0, 1):
        second = not second
        show("learning rate" if second else "loss")
