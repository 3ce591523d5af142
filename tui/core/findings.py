"""The doctor's record types: a :class:`Finding` and the :class:`Fix` items it offers.

A leaf module (nothing of the project imported) so that the events that carry findings (tui.core.events.Diagnosis),
the event log, the run directory and the rules in tui.core.diagnostics all name the same type without importing each
other. The ids and severities a finding may have are listed in tui.core.diagnostics (FINDING_IDS, SEVERITIES)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Fix:
    """One thing to try. ``changes`` (``{"section.key": value}``) is what applying it does to the set-up;
    empty for advice that no configuration key expresses."""

    label: str
    changes: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "changes": dict(self.changes)}


@dataclass(frozen=True)
class Finding:
    id: str  # one of FINDING_IDS
    severity: str  # one of SEVERITIES
    epoch: int  # first epoch (1-based) the finding applies to; 0 = before training
    title: str
    evidence: str
    explanation: str
    fixes: tuple[Fix, ...]
    because_of: str = ""
    """The id of another current finding the doctor believes explains this one (treat that first); "" if none."""

    def as_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "severity": self.severity, "epoch": self.epoch, "title": self.title,
             "evidence": self.evidence, "explanation": self.explanation,
             "fixes": [f.as_dict() for f in self.fixes]}
        if self.because_of:
            d["because_of"] = self.because_of
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Finding":
        """The inverse of :meth:`as_dict`, for findings read back from a run's summary.json (raises KeyError,
        TypeError or ValueError on a malformed entry)."""
        fixes = tuple(Fix(f["label"], dict(f.get("changes") or {})) if isinstance(f, Mapping) else Fix(str(f))
                      for f in d.get("fixes", []))
        return cls(str(d["id"]), str(d.get("severity", "warning")), int(d.get("epoch", 0)), str(d["title"]),
                   str(d.get("evidence", "")), str(d.get("explanation", "")), fixes, str(d.get("because_of", "")))
