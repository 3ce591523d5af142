"""The training doctor: findings such as overfitting, with the epoch they start, the numbers that show them,
what they mean and fixes that apply to the configuration. Rules over the event stream, UI-free, so the app,
the headless command and the summary agree.

Contract shared with the app:
- :class:`Finding` (``id`` one of :data:`FINDING_IDS`) with :class:`Fix` items whose ``changes`` are
  ``{"section.key": value}`` applied with :func:`apply_fix` (``ExperimentConfig.with_values``).
- :class:`Doctor` folds events (``observe``) into the current findings; the session emits them as
  ``events.Diagnosis`` whenever they change and saves them in ``summary.json["findings"]``.
- :func:`preflight` checks a configuration before training (no TensorFlow needed).

Layout: ``common`` (Finding, Fix, Thresholds, helpers, the rule registry), one module per rule family
(``overfitting``, ``underfitting``, ``progress``, ``divergence``, ``gradients``, ``regularization``,
``plateau``, ``setup``, ``val_test_gap``), and ``doctor`` (the Doctor, preflight, the ranking of causes).
A rule module registers its rules when imported; the imports below are what load them.
All thresholds live in :class:`Thresholds` (documented in README.md).
"""

from tui.core.diagnostics import overfitting, progress, regularization, setup, underfitting
from tui.core.diagnostics.common import FINDING_IDS, SEVERITIES, THRESHOLDS, Finding, Fix, Thresholds
from tui.core.diagnostics.doctor import CAUSES_OF, SPECIFIC, Doctor, apply_fix, most_severe, preflight
from tui.core.diagnostics.overfitting import OVERFIT_FIXES, detect_overfitting

RULE_FAMILIES = (overfitting, underfitting, regularization, setup, progress)
"""The rule modules loaded here (each registers its rules when imported)."""

__all__ = ["RULE_FAMILIES", "FINDING_IDS", "SEVERITIES", "THRESHOLDS", "Finding", "Fix", "Thresholds", "SPECIFIC",
           "CAUSES_OF", "Doctor",
           "apply_fix", "most_severe", "preflight", "OVERFIT_FIXES", "detect_overfitting"]
