"""A tmux session watched through one control-mode client (`tmux -C`), for the benchmarks that time a screen.

Polling with `subprocess.run(["tmux", "capture-pane", ...])` forks and execs a tmux client per look: a loop that
looks as often as it can took 0.44 of a core here (606 looks in 5 s on a busy machine: the clients 0.30, the tmux
server 0.07, the loop 0.07), taken from the app it times. One control client kept open answered 716 looks in the
same 5 s (one every 5 ms) for 0.05 of a core, and sends keys without a fork. The client is attached with
`no-output` (the pane's output is not copied to it) and `ignore-size` (it does not resize the window).
"""

from __future__ import annotations

import subprocess
import time


class Tmux:
    """`with Tmux(name, width, height) as t: t.send("cmd", "Enter"); t.screen()`; the session is killed on exit."""

    def __init__(self, name: str, width: int = 100, height: int = 32, command: str | None = None) -> None:
        self.name = name
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        extra = [command] if command else []
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), *extra],
                       check=True)
        self._client = subprocess.Popen(
            ["tmux", "-C", "attach-session", "-t", name, "-f", "no-output,ignore-size"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def command(self, *words: str) -> str:
        """Run one tmux command through the control client; its output (error text raises)."""
        assert self._client.stdin is not None and self._client.stdout is not None
        line = " ".join(_quote(w) for w in words)
        self._client.stdin.write(line + "\n")
        self._client.stdin.flush()
        out: list[str] = []
        number = None
        while True:
            raw = self._client.stdout.readline()
            if not raw:
                raise RuntimeError(f"tmux control client for {self.name} ended")
            text = raw.rstrip("\n")
            parts = text.split(" ")
            if number is None:
                if parts[0] == "%begin" and len(parts) >= 3:
                    number = parts[2]
                continue  # notifications between blocks (%session-changed, ...)
            if parts[0] in ("%end", "%error") and len(parts) >= 3 and parts[2] == number:
                if parts[0] == "%error":
                    raise RuntimeError(f"tmux {line!r}: {' '.join(out)}")
                return "\n".join(out)
            out.append(text)

    def screen(self) -> str:
        """The pane's text as `tmux capture-pane -p` prints it."""
        return self.command("capture-pane", "-p", "-t", self.name)

    def send(self, *keys: str) -> None:
        self.command("send-keys", "-t", self.name, *keys)

    def wait_for(self, pred, what: str, timeout: float = 180, every: float = 0.005) -> float:
        """Seconds until `pred(screen)` holds, looking every `every` s; SystemExit with the screen on timeout."""
        t0 = time.perf_counter()
        while not pred(self.screen()):
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"timed out waiting for {what}:\n{self.screen()}")
            time.sleep(every)
        return time.perf_counter() - t0

    def close(self) -> None:
        if self._client.poll() is None:
            assert self._client.stdin is not None
            self._client.stdin.close()
            try:
                self._client.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._client.kill()
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(word: str) -> str:
    """A word as tmux's command parser reads it (single quotes; a quote inside is closed, escaped, reopened)."""
    if word and all(c.isalnum() or c in "-_./:%=,@+" for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
