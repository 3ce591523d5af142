"""`cnn-tui serve` started as a user would, for the serve tests: on 127.0.0.1, a free port, stopped by the test.

`Served` reads the URL the server prints, keeps its log lines, and lists the app processes it has started (its
child processes, read from /proc), so a test can say "no app process started".
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
F5 = "\x1b[15~"
ANSI = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def screen_text(chunks: list[str]) -> str:
    """What a terminal stream writes, less its escape sequences: enough to find a screen's words."""
    return ANSI.sub("", "".join(chunks))


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{t}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Served:
    def __init__(self, runs_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--runs-dir",
             str(runs_dir), *args], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        threading.Thread(target=self._read, daemon=True).start()
        try:
            wait_until(lambda: self.url or self.proc.poll() is not None, 60, "the server's URL")
        except AssertionError:
            self.stop()
            raise
        if not self.url:
            raise AssertionError("cnn-tui serve did not start:\n" + self.log)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str | None:
        found = re.search(r"(https?://\S+\?token=\S+)", self.log)
        return found.group(1) if found else None

    @property
    def base(self) -> str:
        return self.url.split("/?")[0] if self.url else ""

    @property
    def token(self) -> str:
        return self.url.split("token=")[1] if self.url else ""

    def ws_url(self, token: str | None = None) -> str:
        return self.base.replace("http", "ws", 1) + f"/ws/{self.token if token is None else token}"

    def app_pids(self) -> list[int]:
        """The app processes this server has started, in order, from its log."""
        return [int(p) for p in re.findall(r"app process (\d+) started", self.log)]

    def running_apps(self) -> set[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(150)
            except subprocess.TimeoutExpired:
                for pid in children(self.proc.pid):
                    os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
