"""The banner that shows the doctor's most severe finding: what, from which epoch, the numbers, where the fixes are."""

from __future__ import annotations

from textual.widgets import Static

from tui.core.diagnostics import Finding


class DoctorBanner(Static):
    """Hidden until a finding is shown; coloured by severity."""

    DEFAULT_CSS = """
    DoctorBanner { display: none; height: auto; max-height: 6; background: $warning 20%;
                   border-left: thick $warning; padding: 0 1; }
    DoctorBanner.-shown { display: block; }
    DoctorBanner.-error { background: $error 20%; border-left: thick $error; }
    DoctorBanner.-info { background: $primary 15%; border-left: thick $primary; }
    """

    _text = ""

    def show_finding(self, finding: Finding | None, others: int = 0) -> None:
        self.set_class(finding is not None, "-shown")
        for severity in ("error", "info"):
            self.set_class(finding is not None and finding.severity == severity, f"-{severity}")
        if finding is None:
            if self.content:
                self._text = ""
                self.update("")
            return
        icon = {"error": "✖", "warning": "⚠", "info": "ℹ"}.get(finding.severity, "⚠")
        where = " (marked on the charts)" if finding.epoch > 0 else ""
        fixes = "; ".join(fix.label for fix in finding.fixes[:3])
        more = f" · {others} more finding{'s' if others != 1 else ''}" if others else ""
        text = (f"[b]{icon} {finding.title}[/b]{where}. {finding.explanation}\n"
                f"[b]Evidence:[/b] {finding.evidence}\n"
                f"[b]Try:[/b] {fixes} — [b]d[/b] opens the doctor to apply a fix{more}")
        if text != self._text:  # the screen shows its finding again at every epoch: a new text is a layout pass
            self._text = text
            self.update(text)
