"""Small modal dialogs: confirm quitting during a run, name a preset to save."""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; dismisses with True for yes."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel"), Binding("y", "dismiss(True)", "Yes"),
                Binding("n", "dismiss(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Grid(classes="dialog"):
            yield Label(self.question, classes="question")
            yield Button(self.yes, variant="error", id="yes")
            yield Button("Cancel", variant="primary", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class SavePresetDialog(ModalScreen[str | None]):
    """Asks for a preset name (letters, digits, - _ .); the file goes to the user's preset folder."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Grid(classes="dialog"):
            yield Label("Save the current set-up as a preset named:", classes="question")
            yield Input(placeholder="my-experiment", id="name")
            yield Static("", id="name-error")
            yield Button("Save", variant="success", id="yes")
            yield Button("Cancel", id="no")

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not PRESET_NAME.match(name):
            self.query_one("#name-error", Static).update(
                "[red]Use 1–64 letters, digits, '-', '_' or '.', starting with a letter or digit.[/]")
            return
        self.dismiss(name)

    @on(Button.Pressed, "#no")
    def _cancel(self) -> None:
        self.dismiss(None)


class TooSmallScreen(ModalScreen[None]):
    """Shown instead of a garbled layout while the terminal is smaller than the app needs."""

    def __init__(self, size: tuple[int, int], minimum: tuple[int, int]) -> None:
        super().__init__()
        self.size_now = size
        self.minimum = minimum

    def compose(self) -> ComposeResult:
        yield Static(self._text(), id="too-small")

    def _text(self) -> str:
        (w, h), (mw, mh) = self.size_now, self.minimum
        return f"The window is {w}x{h}; cnn-tui needs at least {mw}x{mh}.\nMake the window larger."

    def update_size(self, size: tuple[int, int]) -> None:
        self.size_now = size
        self.query_one("#too-small", Static).update(self._text())
