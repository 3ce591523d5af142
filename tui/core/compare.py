"""Runs side by side: the configuration keys that differ, the best metrics, the curves, and a Markdown export.

UI-free: `cnn-tui compare` prints it with rich, the app's compare screen draws it with Textual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tui.core.tfenv import device_label
from tui.core.params import ConfigError, format_value, tomllib
from tui.core.records import atomic_write_text, text_chart
from tui.core.rundir import RunDir
from tui.core.runs import RunIndex, read_run

MIN_RUNS, MAX_RUNS = 2, 8
MISSING = "—"
"""Shown for a key one run's configuration does not have (another architecture's parameter, an older run)."""
UNUSED = "(not used)"
"""Shown for a key the run's own settings ignore (momentum under adam): the effective settings are compared."""

CURVES = (("val_loss", "Validation loss"), ("val_accuracy", "Validation accuracy"), ("loss", "Training loss"))
"""The metrics drawn one chart each, overlaid across runs: (history column, title)."""

_USED_WHEN: dict[str, tuple[str, tuple[Any, ...]]] = {
    "optimizer.momentum": ("optimizer.name", ("momentum", "nesterov")),
    "optimizer.rho": ("optimizer.name", ("rmsprop", "adadelta")),
    "model.init_std": ("model.kernel_initializer", ("normal",)),
    "schedule.hold_epochs": ("schedule.name", ("exponential", "step", "cosine")),
    "schedule.decay_rate": ("schedule.name", ("exponential",)),
    "schedule.step_epochs": ("schedule.name", ("step",)),
    "schedule.step_factor": ("schedule.name", ("step", "plateau")),
    "schedule.patience": ("schedule.name", ("plateau",)),
    "schedule.warmup_fraction": ("schedule.name", ("one_cycle",)),
    "schedule.div_factor": ("schedule.name", ("one_cycle",)),
    "schedule.final_div": ("schedule.name", ("one_cycle",)),
    "schedule.min_momentum": ("schedule.name", ("one_cycle",)),
    "training.patience": ("training.early_stopping", (True,)),
    "training.min_delta": ("training.early_stopping", (True,)),
    "training.restore_best": ("training.early_stopping", (True,)),
    "regularization.flip": ("regularization.augment", (True,)),
    "regularization.rotation": ("regularization.augment", (True,)),
    "regularization.shift": ("regularization.augment", (True,)),
    "regularization.zoom": ("regularization.augment", (True,)),
}
"""Keys that only take effect under another key's value (as keras_parts and schedules build them)."""


class CompareError(ValueError):
    """Runs that cannot be compared, said in words the user can act on."""


@dataclass(frozen=True)
class ComparedRun:
    name: str
    """Unique label: the directory name (with a number added when two directories share a name)."""
    path: Path
    status: str
    config: Mapping[str, Any]
    """Flattened configuration: ``{"model.activation": "relu", ...}``."""
    summary: Mapping[str, Any]
    history: Sequence[Mapping[str, float]]

    @property
    def empty(self) -> bool:
        """No epoch was recorded (the run failed at start, or was killed in its first epoch)."""
        return not self.history

    @property
    def flag(self) -> str:
        if not self.empty:
            return ""
        error = self.summary.get("error")
        return f"no epochs recorded ({self.status}{': ' + str(error) if error else ''})"

    def curve(self, key: str) -> tuple[list[float], list[float]]:
        rows = [h for h in self.history if h.get(key) is not None]
        return [float(h["epoch"]) for h in rows], [float(h[key]) for h in rows]


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple[str, ...]
    best: int | None = None
    """Index of the run with the best value (for bold), or None when the row has no better/worse."""


@dataclass(frozen=True)
class Comparison:
    runs: tuple[ComparedRun, ...]
    diff: tuple[Row, ...]
    metrics: tuple[Row, ...]

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    def curves(self, key: str) -> dict[str, tuple[list[float], list[float]]]:
        """One series per run (run name -> epochs, values) for a history column; runs without it are left out."""
        return {r.name: xy for r in self.runs if (xy := r.curve(key))[0]}

    def lr_find_curves(self) -> dict[str, tuple[list[float], list[float]]]:
        """The smoothed range-test curve (learning rates, losses) of each run that had one before it."""
        out = {}
        for r in self.runs:
            data = r.summary.get("lr_find")
            if isinstance(data, Mapping) and data.get("lrs") and len(data["lrs"]) == len(data.get("smoothed", ())):
                out[r.name] = ([float(v) for v in data["lrs"]], [float(v) for v in data["smoothed"]])
        return out

    def flags(self) -> list[str]:
        return [f"{r.name}: {r.flag}" for r in self.runs if r.flag]

    def to_markdown(self) -> str:
        """The comparison as a Markdown document: runs, differing keys, best metrics, one text chart per metric."""
        lines = [f"# cnn-tui comparison of {len(self.runs)} runs", "",
                 f"_Written {time.strftime('%Y-%m-%d %H:%M')}._", ""]
        for r in self.runs:
            lines.append(f"- **{r.name}** — {r.status}, {len(r.history)} epochs — `{r.path}`"
                         + (f" — ⚠ {r.flag}" if r.flag else ""))
        lines += ["", "## Configuration differences", ""]
        if self.diff:
            lines += _md_table("key", self.names, self.diff, code_labels=True)
        else:
            lines.append("_The runs have the same configuration._")
        lines += ["", "## Best metrics", "", *_md_table("metric", self.names, self.metrics), ""]
        for key, title in CURVES:
            chart = text_chart({r.name: [h.get(key) for h in r.history] for r in self.runs}, title)
            if chart:
                lines += [f"## {title}", "", "```", chart, "```", ""]
        for r in self.runs:
            if isinstance(r.summary.get("lr_find"), Mapping) and r.summary["lr_find"].get("lrs"):
                from tui.core.lrfind import markdown_lines

                lines += [f"## {r.name}: learning-rate range test", *markdown_lines(r.summary["lr_find"])[1:]]
        return "\n".join(lines)


def _md_table(corner: str, names: Sequence[str], rows: Sequence[Row], code_labels: bool = False) -> list[str]:
    out = ["| " + " | ".join([corner, *names]) + " |", "|" + " --- |" * (len(names) + 1)]
    for row in rows:
        cells = [f"**{v}**" if i == row.best else v for i, v in enumerate(row.values)]
        label = f"`{row.label}`" if code_labels else row.label
        out.append("| " + " | ".join([label, *(c.replace("|", "\\|") for c in cells)]) + " |")
    return out


# -- loading ------------------------------------------------------------------------------------------------

def resolve_run(text: str, runs_dir: Path | str | None = None) -> Path:
    """A run directory from a path, a run name in `runs_dir`, or a unique part of a run name there."""
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    folder = Path(runs_dir or "runs")
    if (folder / text).is_dir():
        return folder / text
    rels, _ = RunIndex(folder).layout()  # names only: no run is read to find one
    matches = [folder / rel for rel in rels if text in rel.rsplit("/", 1)[-1]]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(p.name for p in matches[:5]) + (" …" if len(matches) > 5 else "")
        raise CompareError(f"{text!r} matches {len(matches)} runs in {folder} ({shown}); give more of the name")
    raise CompareError(f"{text!r} is neither a directory nor a run in {folder} (`cnn-tui runs --runs-dir DIR` "
                       f"lists the runs)")


def _flatten_config(run_dir: Path) -> dict[str, Any]:
    """Every key of the run's config.toml, dotted; validated through config.load so defaults fill older runs."""

    try:
        nested: Mapping[str, Any] = RunDir(run_dir).read_config().to_dict()
    except ConfigError:  # a key that no longer exists: compare what the file says
        try:
            nested = tomllib.loads(RunDir(run_dir).config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CompareError(f"{run_dir}: config.toml cannot be read ({exc})") from None
    return flatten(nested)


def flatten(nested: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model": {"activation": "relu"}}`` -> ``{"model.activation": "relu"}`` (the [meta] table left out)."""
    return {f"{section}.{key}": value for section, values in nested.items() if section != "meta"
            and isinstance(values, Mapping) for key, value in values.items()}


def load_run(run_dir: Path, name: str | None = None) -> ComparedRun:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir} is not a directory")
    record = read_run(run_dir)
    if record is None:
        raise CompareError(f"{run_dir} is not a run directory: config.toml is missing (a run directory holds the "
                           f"config.toml, history.csv and summary.json that training writes)")
    rd = RunDir(run_dir)
    summary = rd.read_summary()
    return ComparedRun(name=name or record.name, path=run_dir, status=record.status,
                       config=_flatten_config(run_dir), summary=summary.as_dict() if summary is not None else {},
                       history=rd.read_history())


def compare(runs: Sequence[Path | str], runs_dir: Path | str | None = None) -> Comparison:
    """Load 2–8 runs (directories, or names in `runs_dir`) and line them up. Raises CompareError naming what is
    wrong: too few or too many, a name that matches no run, a directory that is not a run."""
    if not MIN_RUNS <= len(runs) <= MAX_RUNS:
        raise CompareError(f"compare takes {MIN_RUNS} to {MAX_RUNS} runs; {len(runs)} given")
    paths = [resolve_run(str(p), runs_dir) for p in runs]
    seen: dict[Path, Path] = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise CompareError(f"{p} is given twice; compare different runs")
        seen[key] = p
    names = [p.name for p in paths]
    labels = [n if names.count(n) == 1 else f"{n} ({names[:i + 1].count(n)})" for i, n in enumerate(names)]
    loaded = tuple(load_run(p, label) for p, label in zip(paths, labels))
    return Comparison(runs=loaded, diff=tuple(config_diff([r.config for r in loaded])),
                      metrics=tuple(metric_rows(loaded)))


# -- the two tables -----------------------------------------------------------------------------------------

def _effective(config: Mapping[str, Any], key: str) -> str:
    if key not in config:
        return MISSING
    rule = _USED_WHEN.get(key)
    if rule is not None and rule[0] in config and config[rule[0]] not in rule[1]:
        return UNUSED
    return format_value(config[key])


def config_diff(configs: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Only the keys whose effective value differs between the configurations, in configuration order.

    A key a configuration lacks shows as MISSING; one its own settings ignore (momentum under adam) as UNUSED,
    so sgd vs momentum vs adam shows the optimizer name *and* the momentum that only one of them uses.
    """
    keys: list[str] = []
    for c in configs:
        keys += [k for k in c if k not in keys]
    rows = []
    for key in keys:
        values = tuple(_effective(c, key) for c in configs)
        if len(set(values)) > 1:
            rows.append(Row(key, values))
    return rows


def _pick(values: Sequence[float | None], better: Callable[..., Any]) -> int | None:
    scored = [(v, i) for i, v in enumerate(values) if v is not None]
    if len(scored) < 2 or len({v for v, _ in scored}) == 1:
        return None
    best: tuple[float, int] = better(scored)
    return best[1]


def _best(history: Sequence[Mapping[str, float]], key: str, lower: bool) -> tuple[float, int] | None:
    rows = [h for h in history if h.get(key) is not None]
    if not rows:
        return None
    h = (min if lower else max)(rows, key=lambda h: h[key])
    return float(h[key]), int(h["epoch"])


def metric_rows(runs: Sequence[ComparedRun]) -> list[Row]:
    """Best and final metrics, test accuracy, epochs, wall time and size, one column per run; best in bold."""

    def row(label: str, values: Sequence[float | None], fmt: Callable[[float], str], lower: bool | None,
            notes: Sequence[str] = ()) -> Row:
        cells = tuple(MISSING if v is None else fmt(v) + (notes[i] if notes else "") for i, v in enumerate(values))
        return Row(label, cells, None if lower is None else _pick(values, min if lower else max))

    def acc(v: float) -> str:
        return f"{v:.4f}"

    best_acc = [_best(r.history, "val_accuracy", lower=False) for r in runs]
    best_loss = [_best(r.history, "val_loss", lower=True) for r in runs]
    last = [r.history[-1] if r.history else {} for r in runs]
    test = [(r.summary.get("test") or {}).get("accuracy") for r in runs]
    params = [(r.summary.get("params") or {}).get("total") for r in runs]
    rows = [
        Row("status", tuple(r.status + (" ⚠ no epochs" if r.empty else "") for r in runs)),
        row("best val accuracy", [b and b[0] for b in best_acc], acc, False,
            [f" (epoch {b[1]})" if b else "" for b in best_acc]),
        row("best val loss", [b and b[0] for b in best_loss], acc, True,
            [f" (epoch {b[1]})" if b else "" for b in best_loss]),
        row("final train loss", [h.get("loss") for h in last], acc, True),
        row("final train accuracy", [h.get("accuracy") for h in last], acc, False),
        row("test accuracy", test, acc, False),
        row("epochs", [float(len(r.history)) for r in runs], lambda v: f"{v:.0f}", None),
        row("wall time", [r.summary.get("wall_seconds") for r in runs], lambda v: f"{v:.1f} s", None),
        row("parameters", params, lambda v: f"{v:,.0f}", None),
        Row("device", tuple(device_label(r.summary.get("device")) for r in runs)),
    ]
    lr_find = tuple(_lr_find_cell(r.summary.get("lr_find")) for r in runs)
    if any(cell != MISSING for cell in lr_find):
        rows.append(Row("lr range test suggestion", lr_find))
    changes = tuple(_changes_cell(r) for r in runs)
    if any(cell != "none" for cell in changes):
        rows.append(Row("changed while paused", changes))
    return rows


def _changes_cell(run: ComparedRun) -> str:
    """The settings changed while the run was paused (tui.core.changes), with where: ``e2·5 learning_rate 0.001 →
    0.01``; a run still going has them in its run directory only."""
    from tui.core.changes import describe

    changes = run.summary.get("changes") or RunDir(run.path).read_changes()
    return "; ".join(f"e{c.get('epoch')}·{c.get('batch')} {describe(c.get('values') or {}, c.get('previous'))}"
                     for c in changes if isinstance(c, Mapping)) or "none"


def _lr_find_cell(data: Any) -> str:
    """A run's range-test suggestion (chosen, then the other), or MISSING when none ran before it."""
    if not isinstance(data, Mapping) or not data.get("lrs"):
        return MISSING
    from tui.core.lrfind import fmt_lr

    return (f"{fmt_lr(data.get('suggestion'))} ({data.get('chosen')}; steepest {fmt_lr(data.get('steepest'))}, "
            f"min÷10 {fmt_lr(data.get('min_tenth'))})")


def export_markdown(comparison: Comparison, path: Path | str | None = None,
                    runs_dir: Path | str | None = None) -> Path:
    """Write the comparison's Markdown (atomically) to `path`, or to <runs_dir>/comparisons/compare-<time>.md."""
    if path is None:
        stem = Path(runs_dir or "runs") / "comparisons" / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
        path = next(p for i in range(1000) if not (p := Path(f"{stem}{f'-{i}' if i else ''}.md")).exists())
    return atomic_write_text(Path(path), comparison.to_markdown())
