"""Notifications: when a run ends (finished / stopped / failed), at its first warning-or-worse finding, and when a
sweep ends.

Two ways out, both optional:
- the terminal a person watches: the bell and a desktop-notification escape sequence (OSC 9 and OSC 777, which
  terminals such as iTerm2, kitty, WezTerm, foot, Windows Terminal and urxvt turn into a desktop notification), wrapped
  for tmux's passthrough when $TMUX is set (tmux then needs ``set -g allow-passthrough on``);
- a webhook: a small JSON document POSTed to the URL of the user's settings file or $CNN_TUI_WEBHOOK_URL. The URL is
  a secret: it is never logged, printed, or written into a run directory. The POST runs in a background thread with
  a timeout; a failing or hanging webhook never delays training, and its failure is logged once.

``Notifier`` is a session listener (it turns events into notices) that hands each notice to its sinks.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from tui.core.events import Diagnosis, Event, RunEnded, RunStarted

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5.0
SEVERE = ("warning", "error")


@dataclass(frozen=True)
class Notice:
    """What a notification says: the webhook's JSON document, and a title and line for a terminal."""

    kind: str  # run_end | finding | sweep_end
    run: str
    status: str
    best: Mapping[str, Any] | None = None
    test: Mapping[str, Any] | None = None
    finding: Mapping[str, Any] | None = None

    @property
    def title(self) -> str:
        return {"run_end": f"cnn-tui: run {self.status}", "finding": "cnn-tui: the doctor found something",
                "sweep_end": f"cnn-tui: sweep {self.status}"}.get(self.kind, "cnn-tui")

    @property
    def line(self) -> str:
        parts = [self.run]
        if self.finding:
            parts.append(f"{self.finding.get('severity', '')}: {self.finding.get('title', '')}")
        if self.best and self.best.get("val_accuracy") is not None:
            parts.append(f"best val_acc {self.best['val_accuracy']:.4f}")
        if self.test and self.test.get("accuracy") is not None:
            parts.append(f"test acc {self.test['accuracy']:.4f}")
        return " · ".join(parts)

    def document(self) -> dict[str, Any]:
        return {"source": "cnn-tui", **asdict(self)}


Sink = Callable[[Notice], None]


class Notifier:
    """A session listener: one notice at the run's end, one at its first warning-or-worse finding."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self.run = "run"
        self._warned = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run = Path(event.run_dir).name
        elif isinstance(event, Diagnosis) and not self._warned:
            severe = [f for f in event.findings if getattr(f, "severity", "") in SEVERE]
            if severe:
                self._warned = True
                f = severe[0]
                self.send(Notice("finding", self.run, "running", finding={
                    "id": f.id, "severity": f.severity, "title": f.title, "epoch": f.epoch, "evidence": f.evidence}))
        elif isinstance(event, RunEnded):
            s = event.summary or {}
            if event.run_dir:
                self.run = Path(event.run_dir).name
            findings = s.get("findings") or []
            worst = next((f for f in findings if f.get("severity") in SEVERE), None)
            self.send(Notice("run_end", self.run, event.status, best=s.get("best"), test=_test_block(s.get("test")),
                             finding={k: worst.get(k) for k in ("id", "severity", "title")} if worst else None))

    def send(self, notice: Notice) -> None:
        for sink in self.sinks:
            try:
                sink(notice)
            except Exception:  # a notification must never break a run
                log.exception("notification failed")


def _test_block(test: Any) -> dict[str, Any] | None:
    if not isinstance(test, Mapping):
        return None
    return {k: test.get(k) for k in ("accuracy", "loss") if k in test}


# -- the terminal ---------------------------------------------------------------------------------------------------
def escape_sequences(notice: Notice, tmux: bool | None = None) -> str:
    """Bell + OSC 9 + OSC 777 for `notice`, wrapped in tmux's DCS passthrough when inside tmux."""
    def clean(text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable() and ch not in ";\x1b\x07")

    title, line = clean(notice.title), clean(notice.line)
    seqs = [f"\x1b]9;{title}: {line}\x07", f"\x1b]777;notify;{title};{line}\x07"]
    if tmux if tmux is not None else bool(os.environ.get("TMUX")):
        seqs = ["\x1bPtmux;" + s.replace("\x1b", "\x1b\x1b") + "\x1b\\" for s in seqs]
    return "\a" + "".join(seqs)


def terminal_sink(write: Callable[[str], None]) -> Sink:
    """A sink writing the bell and the escape sequences with `write` (stdout, or the Textual driver)."""
    return lambda notice: write(escape_sequences(notice))


# -- the webhook ----------------------------------------------------------------------------------------------------
class Webhook:
    """POSTs notices to a URL from a background thread; failures are logged once, without the URL."""

    def __init__(self, url: str, timeout: float = WEBHOOK_TIMEOUT) -> None:
        self._url = url
        self.timeout = timeout
        self.failed = False
        self.sent = 0
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return "Webhook(<secret url>)"

    def __call__(self, notice: Notice) -> None:
        t = threading.Thread(target=self._post, args=(notice.document(),), name="cnn-tui-webhook", daemon=True)
        self._threads.append(t)
        t.start()

    def _post(self, doc: dict[str, Any]) -> None:
        request = urllib.request.Request(self._url, data=json.dumps(doc).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "cnn-tui"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
            self.sent += 1
        except (OSError, urllib.error.URLError, ValueError) as exc:
            if not self.failed:
                self.failed = True
                reason = getattr(exc, "reason", None) or type(exc).__name__
                log.warning("the notification webhook failed (%s); later failures are not logged", reason)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the notices sent so far (a process about to exit gives them this long)."""
        for t in list(self._threads):
            t.join(timeout)


def sinks_for(terminal: Callable[[str], None] | None, webhook_url: str | None) -> tuple[list[Sink], Webhook | None]:
    sinks: list[Sink] = []
    if terminal is not None:
        sinks.append(terminal_sink(terminal))
    hook = Webhook(webhook_url) if webhook_url else None
    if hook is not None:
        sinks.append(hook)
    return sinks, hook


def sweep_notice(state: Any) -> Notice:
    best = state.best() if hasattr(state, "best") else None
    return Notice("sweep_end", Path(state.sweep_dir).name, state.status,
                  best={"val_accuracy": best.best_val_accuracy, "cell": best.label()} if best else None)


def notifier_for(notify: bool, terminal: bool) -> tuple[Notifier | None, Webhook | None]:
    """For a command-line run: (a session listener or None, the webhook or None), from --notify and the settings
    file; the terminal sink only when `terminal` and stdout is one (a detached run has none)."""
    import sys

    from tui.core import settings

    user = settings.load()
    if not (notify or user.notify):
        return None, None
    write = None
    if terminal and sys.stdout.isatty():
        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()
    sinks, hook = sinks_for(write, user.webhook_url or None)
    return (Notifier(sinks) if sinks else None), hook
