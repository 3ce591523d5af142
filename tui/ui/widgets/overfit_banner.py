"""The banner that says a run is overfitting: from which epoch, the numbers that show it, what to try."""

from __future__ import annotations

from textual.widgets import Static

from tui.core.diagnostics import Finding


class OverfitBanner(Static):
    """Hidden until a finding is shown."""

    DEFAULT_CSS = """
    OverfitBanner { display: none; height: auto; max-height: 8; background: $warning 20%;
                    border-left: thick $warning; padding: 0 1; }
    OverfitBanner.-shown { display: block; }
    """

    def show_finding(self, finding: Finding | None) -> None:
        self.set_class(finding is not None, "-shown")
        if finding is None:
            self.update("")
            return
        fixes = "; ".join(fix.label for fix in finding.fixes)
        self.update(f"[b]⚠ {finding.title}[/b] (marked on the charts). {finding.explanation}\n"
                    f"[b]Evidence:[/b] {finding.evidence}\n[b]Try:[/b] {fixes}")
