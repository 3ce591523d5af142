"""Pause, change, continue: the small form a paused run's training screen opens with `c`.

One field per setting a running model takes (tui.core.changes.CHANGEABLE), filled with the values in force. Only
the fields the person edits are sent, to the session's ``change`` (the app's own run) or through the control
channel (an attached view); the training thread applies them when the run continues (`p`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.core.changes import CHANGEABLE
from tui.core.params import format_value


class ChangeScreen(ModalScreen[dict[str, str] | None]):
    """Dismisses with the edited fields ({"section.key": text}) once the session took them, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, current: dict[str, Any], send: Callable[[dict[str, Any]], str],
                 fixed: dict[str, str] | None = None) -> None:
        super().__init__()
        self.fixed = dict(fixed or {})
        """Keys shown but not editable in this run, with why (patience without early stopping)."""
        self.current = {key: format_value(value, digits=6) for key, value in current.items() if key in CHANGEABLE}
        self.send = send
        """Called with the edited fields: returns what was done, or raises ValueError saying why not."""

    def compose(self) -> ComposeResult:
        with Grid(id="change-dialog"):
            yield Label("The run is paused. Change, then continue with p:", classes="question")
            for key, help_text in CHANGEABLE.items():
                yield Label(key, classes="change-key")
                why = self.fixed.get(key)
                yield Input(self.current.get(key, ""), id="change-" + key.replace(".", "-"),
                            tooltip=f"{help_text} ({why})" if why else help_text, disabled=why is not None,
                            placeholder=why or "")
            yield Static("Anything else needs the model rebuilt: stop (s) and start a new run.", classes="hint")
            yield Static("", id="change-error")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="success", id="apply")
                yield Button("Cancel", id="cancel")

    def edited(self) -> dict[str, str]:
        out = {}
        for key in CHANGEABLE:
            if key in self.fixed:
                continue
            text = self.query_one("#change-" + key.replace(".", "-"), Input).value.strip()
            if text and text != self.current.get(key, ""):
                out[key] = text
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        values = self.edited()
        if not values:
            self.dismiss(None)
            return
        try:
            self.send(values)
        except ValueError as exc:
            self.query_one("#change-error", Static).update(f"[red]{exc}[/]")
            return
        self.dismiss(values)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
