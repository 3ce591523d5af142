"""The doctor's findings as a selectable list: one line each with severity, first epoch and title."""

from __future__ import annotations

from typing import Sequence

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.diagnostics import Finding

SEVERITY_STYLE = {"error": ("✖", "red"), "warning": ("⚠", "yellow"), "info": ("ℹ", "cyan")}


def finding_line(finding: Finding) -> str:
    icon, colour = SEVERITY_STYLE.get(finding.severity, ("⚠", "yellow"))
    when = f"epoch {finding.epoch}" if finding.epoch > 0 else "before training"
    said = when in finding.title.lower()
    return f"[{colour}]{icon}[/] {finding.title}" + ("" if said else f" [dim]({when})[/]")


class FindingsList(OptionList):
    """Enter (or a click) on a finding opens it with its explanation and fixes."""

    DEFAULT_CSS = """
    FindingsList { height: auto; max-height: 8; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.findings: tuple[Finding, ...] = ()
        self.border_title = "doctor"
        self._shown = False

    def on_mount(self) -> None:
        if not self._shown:
            self.show(())

    def show(self, findings: Sequence[Finding]) -> None:
        findings = tuple(findings)
        if self._shown and findings == self.findings:
            return
        self._shown = True
        highlighted = self.highlighted
        self.findings = findings
        self.clear_options()
        if not findings:
            self.add_option(Option("[green]✓[/] nothing wrong so far", disabled=True))
            return
        self.add_options([Option(finding_line(f), id=f.id) for f in findings])
        self.highlighted = min(highlighted or 0, len(findings) - 1)

    @property
    def selected(self) -> Finding | None:
        """The highlighted finding, else the most severe one."""
        if not self.findings:
            return None
        index = self.highlighted if self.highlighted is not None else 0
        return self.findings[min(index, len(self.findings) - 1)]
