"""The doctor's findings opened up: explanation, evidence and fixes; choosing a fix applies it to the set-up.

Also the pre-training check: the same screen with "Start anyway" as the first choice.
"""

from __future__ import annotations

from typing import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.core.diagnostics import Finding, Fix
from tui.ui.widgets.findings_list import finding_line

START = "start"
"""What the screen dismisses with when the user chose to start training anyway."""


def _changes(fix: Fix) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in fix.changes.items())


class FindingScreen(ModalScreen["Fix | str | None"]):
    """Dismisses with the chosen Fix, START, or None (Escape)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, findings: Sequence[Finding], *, offer_start: bool = False) -> None:
        super().__init__()
        self.findings = tuple(findings)
        self.offer_start = offer_start
        self.choices: list[Fix | str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="finding-box"):
            heading = ("Before you start: the doctor has a concern" if self.offer_start
                       else "The doctor's reading")
            yield Static(f"[b]{heading}[/b]", id="finding-heading")
            with VerticalScroll(id="finding-text"):
                for f in self.findings:
                    yield Static(f"{finding_line(f)}\n{f.explanation}\n[b]Evidence:[/b] {f.evidence}",
                                 classes="finding")
            options: list[Option] = []
            if self.offer_start:
                self.choices.append(START)
                options.append(Option("▶ Start anyway", id="start"))
            for f in self.findings:
                for fix in f.fixes:
                    if fix.changes:
                        self.choices.append(fix)
                        options.append(Option(f"Apply: {fix.label} [dim]({_changes(fix)})[/]"))
            yield Static("Choose a fix to apply it to the set-up form (Enter), or Escape to close. "
                         "Advice without a setting:", id="finding-hint")
            advice = [fix.label for f in self.findings for fix in f.fixes if not fix.changes]
            yield Static("\n".join(f"• {a}" for a in advice) or "[dim]none[/]", id="finding-advice")
            yield OptionList(*options, id="fixes")

    def on_mount(self) -> None:
        self.query_one("#fixes", OptionList).focus()

    @on(OptionList.OptionSelected, "#fixes")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])
