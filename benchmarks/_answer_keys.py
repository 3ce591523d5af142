"""Answers each key as cnn-tui answers `g` in benchmarks/latency.py: the screen switches between "loss" and
"learning rate" (what latency.py's `presses` looks for). The bare runs' harness pane runs it, so that the presses and
looks cost the bare side what they cost the app's.

It keeps the terminal in cbreak mode and starts no process per key (the shell loop it replaces ran `read -rsn1`,
then `clear` and `echo`, at every key). Neither loses keys by itself (none in 386 presses in 60 s, with or without
three CPU-bound processes beside it), yet both missed a few keys a round while a bare fit trained (11 and 8 in four
rounds of latency.py), each leaving the bare side unpressed for latency.MISSED seconds; latency.py prints the count.
Not found why."""

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
