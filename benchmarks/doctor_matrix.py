"""The doctor measured as a classifier: every scenario preset (one per problem class of issue #13) and the healthy
study presets, each trained with several seeds at a small budget, through the same TrainingSession the app and
`cnn-tui train` use. Prints, per scenario, the findings raised (the one the doctor puts first marked *) against the
expected ones, then

- recall: runs in which the expected finding was raised, and in which it came first;
- false alarms: healthy runs with any finding not allowed for them (target 0, penalty presets included);
- bad fixes: offered fixes that change nothing, weaken a regularization setting of the user while the finding
  asks for more of it, or turn on flips for digits (target 0).

The table below (CASES, HEALTHY) was written before the thresholds were tuned and is frozen: change a threshold,
not an expectation. Digits runs take seconds; MNIST ones need the data directory (--data-dir; skipped when absent).

    python benchmarks/doctor_matrix.py                 # every case, 3 seeds, 2 worker processes
    python benchmarks/doctor_matrix.py --seeds 1 --only penalty-l1,overfitting
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CNN_TUI_DATA_DIR") or ROOT.parent / "shared" / "data")
SEEDS = (42, 1, 2)


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    first: str | None  # the finding expected first (None: a healthy run)
    expect: tuple[str, ...] = ()  # further findings that must be raised
    forbid: tuple[str, ...] = ()  # findings that must not be raised
    allowed: tuple[str, ...] = ()  # healthy runs: findings that are right for the small budget
    overrides: dict[str, Any] = field(default_factory=dict)
    why: str = ""


CASES = (
    Case("penalty-l1", "scenarios/penalty-l1-default", "regularization_dominates", forbid=("divergence",),
         why="default digits set-up with regularization.l1 = 1.0: a loss in the hundreds that is all penalty"),
    Case("reg-dominates", "scenarios/regularization-dominates", "regularization_dominates", forbid=("divergence",)),
    Case("overfitting", "scenarios/overfitting", "overfitting",
         why="20 images (2 a class): with 50, seed 2 reached 0.91 validation accuracy and never held a 10-point gap"),
    Case("overconfidence", "scenarios/overconfidence", "overconfidence", forbid=("overfitting",)),
    Case("underfitting", "scenarios/underfitting", "implausible_lr", expect=("underfitting",),
         why="SGD at 1e-5: the learning rate is the cause, underfitting the symptom"),
    Case("high-bias", "scenarios/high-bias", "high_bias", forbid=("underfitting",)),
    Case("undertrained", "scenarios/undertrained", "undertrained"),
    Case("lr-too-high", "scenarios/lr-too-high", "lr_too_high", forbid=("divergence",)),
    Case("implausible-lr", "scenarios/implausible-lr", "implausible_lr"),
    Case("one-class", "scenarios/one-class", "one_class"),
    Case("dead-layers", "scenarios/dead-layers", "dead_layers", forbid=("vanishing_gradients",)),
    Case("divergence", "scenarios/divergence", "unscaled_input", expect=("divergence",),
         why="raw pixels with SGD 0.1: the unscaled input is the cause the doctor names first"),
    Case("exploding-init", "scenarios/exploding-init", "exploding_gradients"),
    Case("exploding-raw", "scenarios/exploding-gradients", "unscaled_input", expect=("exploding_gradients",)),
    Case("vanishing", "scenarios/vanishing-gradients", "vanishing_gradients"),
    Case("wrong-loss", "scenarios/wrong-loss", "wrong_loss"),
    Case("mse-loss", "scenarios/mse-loss", "wrong_loss"),
    Case("unscaled", "scenarios/unscaled-input", "unscaled_input"),
    Case("plateau-decayed", "scenarios/plateau", "plateau"),
    Case("small-val", "scenarios/small-validation", "small_validation", forbid=("val_test_gap",),
         why="16 validation images: a gap to the test accuracy is noise, the split is the finding"),
    Case("flip-digits", "scenarios/flip-digits", "flip_augment"),
)

HEALTHY = (
    Case("healthy-default", "default", None),
    Case("healthy-cnn", "scenarios/healthy-cnn", None),
    Case("healthy-mlp", "scenarios/healthy-mlp", None),
    Case("healthy-lr-0.01", "default", None, allowed=("plateau", "lr_too_high"),
         overrides={"optimizer.learning_rate": 0.01, "training.epochs": 15},
         why="the default set-up at Adam 0.01, 5x its own rate (the #15 check): validation accuracy 0.96-0.99 and a "
             "near-zero val_loss moving by a few hundredths, which is not overfitting. True of it: val_loss stops "
             "improving by epoch 6-7 (plateau) and near the end the training loss swings by 20-70 % (seed 42: "
             "0.020 → 0.034 → 0.059, training accuracy 0.996 → 0.979), what lr_too_high describes"),
    # At their own budgets: cut to 3,000 images (120 and 60 steps) the first matrix run found them still at chance
    # (one_class, underfitting) and under-trained, true of the cut runs, not of the presets.
    Case("mnist-relu", "mnist-relu", None),
    Case("mnist-adam", "mnist-adam", None),
    Case("mnist-300-l2", "mnist-overfit-300-l2", None, allowed=("undertrained", "overfitting"),
         overrides={"training.epochs": 40},
         why="the L2 study preset cut to 40 of its 333 epochs: no regularization_dominates"),
    Case("mnist-300-l1", "mnist-overfit-300-l1", None, allowed=("undertrained", "overfitting", "lr_too_high"),
         overrides={"training.epochs": 40},
         why="lr_too_high is true of this preset (the course note's SGD 0.1, not 0.01, on 3 batches an epoch): "
             "measured at 40 epochs, validation accuracy on 6,000 images jumps by a median 8-12 points from one "
             "epoch to the next over the last 20 epochs (at most 20-29; a standard error is 0.6 points) and the "
             "data loss, pooled over 4 epochs, still rises 10-24 % beyond its noise; see the preset's [meta]"),
)

REGULARIZERS = ("model.dropout", "regularization.l1", "regularization.l2", "regularization.activity_l1",
                "regularization.activity_l2")
WANT_MORE = ("overfitting", "overconfidence")
"""Findings whose fixes must never weaken the user's regularization."""


def bad_fixes(config: Any, finding: Any) -> list[str]:
    """The offered fixes that are no-ops, weaken a regularizer the finding wants more of, or flip digits."""
    from tui.core.diagnostics import apply_fix

    out = []
    for fix in finding.fixes:
        if not fix.changes:
            continue
        try:
            changed = apply_fix(config, fix)
        except Exception as exc:
            out.append(f"{finding.id}: {fix.label} (invalid: {exc})")
            continue
        if changed == config:
            out.append(f"{finding.id}: {fix.label} (no-op)")
        elif finding.id in WANT_MORE and any(changed.get(k) < config.get(k) for k in REGULARIZERS):
            out.append(f"{finding.id}: {fix.label} (weakens a setting)")
        elif (config.dataset.name in ("digits", "mnist") and changed.regularization.augment
              and changed.regularization.flip and not (config.regularization.augment and config.regularization.flip)):
            out.append(f"{finding.id}: {fix.label} (flips digits)")
    return out


def run_one(case: Case, seed: int, data_dir: str) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from tui.core import config as cfg
    from tui.core.presets import resolve
    from tui.core.session import TrainingSession

    conf = cfg.load(resolve(case.preset)).with_values({**case.overrides, "training.seed": seed})
    if conf.dataset.name in ("mnist", "fashion_mnist", "cifar10"):
        if not Path(data_dir).is_dir():
            return {"skipped": True}
        conf = conf.with_values({"dataset.data_dir": data_dir})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        session = TrainingSession(conf, runs_dir=runs)
        result = session.run()
    findings = session.doctor.findings
    bad = [b for f in findings for b in bad_fixes(conf, f)]
    keys = ("loss", "data_loss", "accuracy", "val_loss", "val_accuracy")
    history = [{k: round(float(h[k]), 4) for k in keys if k in h} for h in session.history]
    return {"ids": [f.id for f in findings], "status": result.status, "bad": bad,
            "seconds": time.perf_counter() - t0, "skipped": False, "history": history,
            "evidence": [f"{f.id} (epoch {f.epoch}): {f.evidence}" for f in findings]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per case (42, 1, 2, ...)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--verbose", action="store_true", help="print each run's epoch history and the findings' "
                                                            "evidence (to read why a rule fired)")
    ap.add_argument("--data-dir", default=str(SHARED), help="MNIST/Fashion-MNIST files (default: $CNN_TUI_DATA_DIR "
                                                            "or ../shared/data); MNIST cases are skipped without")
    args = ap.parse_args()
    seeds = (SEEDS + tuple(range(3, 100)))[:args.seeds]
    cases = [c for c in CASES + HEALTHY if not args.only or c.name in args.only.split(",")]
    t0 = time.perf_counter()
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {(c.name, s): pool.submit(run_one, c, s, args.data_dir) for c in cases for s in seeds}
        results = {}
        for i, (key, future) in enumerate(futures.items(), 1):
            results[key] = future.result()
            print(f"[{i}/{len(futures)}] {key[0]} seed {key[1]}: {results[key].get('ids')}", file=sys.stderr,
                  flush=True)
    wall = time.perf_counter() - t0

    print(f"{'case':<17} {'seed':>4}  {'status':<8} raised (* = first)  →  expected")
    raised = first = runs = healthy_runs = alarms = 0
    bad_all: list[str] = []
    for c in cases:
        for s in seeds:
            r = results[(c.name, s)]
            if r["skipped"]:
                print(f"{c.name:<17} {s:>4}  skipped (needs ../shared/data)")
                continue
            ids = r["ids"]
            shown = ", ".join(("*" if i == 0 else "") + fid for i, fid in enumerate(ids)) or "—"
            bad_all += r["bad"]
            if c.first is None:
                healthy_runs += 1
                extra = [i for i in ids if i not in c.allowed]
                alarms += bool(extra)
                verdict = "ok" if not extra else f"FALSE ALARM {extra}"
                expected = "nothing" + (f" (allowed: {', '.join(c.allowed)})" if c.allowed else "")
            else:
                runs += 1
                want = (c.first, *c.expect)
                ok_raised = all(w in ids for w in want) and not any(f in ids for f in c.forbid)
                ok_first = bool(ids) and ids[0] == c.first
                raised += ok_raised
                first += ok_first and ok_raised
                verdict = "ok" if ok_raised and ok_first else ("raised, not first" if ok_raised else "MISSED")
                expected = f"*{c.first}" + "".join(f", {e}" for e in c.expect) + (
                    f"; never {', '.join(c.forbid)}" if c.forbid else "")
            print(f"{c.name:<17} {s:>4}  {r['status']:<8} {shown}  →  {expected}  [{verdict}, {r['seconds']:.0f}s]")
            if args.verbose:
                for i, h in enumerate(r["history"], 1):
                    print(f"    epoch {i:>3} " + "  ".join(f"{k} {v:.4f}" for k, v in h.items()))
                for e in r["evidence"]:
                    print(f"    {e}")
    print()
    print(f"recall (expected raised, none forbidden): {raised}/{runs} runs")
    print(f"recall (expected finding first):          {first}/{runs} runs")
    print(f"false alarms on healthy runs:             {alarms}/{healthy_runs} runs")
    print(f"offered fixes that are no-ops, weaken a user setting or flip digits: {len(bad_all)}")
    for b in sorted(set(bad_all)):
        print(f"  {b}")
    print(f"{len(cases)} cases × {len(seeds)} seeds in {wall:.0f} s wall ({args.workers} workers, shared machine)")


if __name__ == "__main__":
    main()
