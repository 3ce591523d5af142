"""What is written into a run directory: the run summary (JSON + Markdown) and its export.

The layout itself (file names, typed reads, atomic writes) belongs to tui.core.rundir."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from tui.core.atomic import atomic_write_json, atomic_write_text
from tui.core.rundir import RunDir, RunSummary, read_history_file
from tui.core.tfenv import device_label

__all__ = ["atomic_write_json", "atomic_write_text", "build_summary", "create_run_dir", "export_run",
           "read_history_csv", "render_markdown", "text_chart"]

SUMMARY_KEYS = ("status", "error", "epochs_run", "best", "final", "test", "wall_seconds",
                "train_samples_per_second", "params", "dataset", "versions", "device")


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """A new, unique directory under `runs_dir` (safe when two processes create runs at the same moment)."""
    return RunDir.create(runs_dir, name).path


def median(values: Sequence[float]) -> float | None:
    vals = sorted(values)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def build_summary(*, status: str, error: str | None, history: Sequence[Mapping[str, float]],
                  test: Mapping[str, Any] | None, wall_seconds: float, params: Mapping[str, int] | None,
                  dataset: Mapping[str, Any] | None, versions: Mapping[str, str], device: Any,
                  monitor: str = "val_loss", findings: Sequence[Mapping[str, Any]] = (),
                  run_dir: str | None = None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The summary.json contract (keys in SUMMARY_KEYS, plus run_dir, findings, config)."""
    full = [h for h in history if not h.get("partial")]
    best = None
    scored = [h for h in history if h.get("val_loss") is not None]
    if scored:
        if monitor.endswith("accuracy"):
            pick = max(scored, key=lambda h: h.get(monitor, float("-inf")))
        else:
            pick = min(scored, key=lambda h: h.get(monitor, float("inf")))
        best = {"epoch": int(pick["epoch"]), "val_accuracy": pick.get("val_accuracy"),
                "val_loss": pick.get("val_loss"), "monitor": monitor}
    last = history[-1] if history else None
    final = ({k: last.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")} if last else None)
    speeds = [h["samples_per_second"] for h in full[1:] if h.get("samples_per_second")]
    if not speeds:
        speeds = [h["samples_per_second"] for h in full if h.get("samples_per_second")]
    return {
        "status": status,
        "error": error,
        "epochs_run": len(history),
        "best": best,
        "final": final,
        "test": dict(test) if test else None,
        "wall_seconds": round(wall_seconds, 3),
        "train_samples_per_second": median(speeds),
        "params": dict(params) if params else None,
        "dataset": dict(dataset) if dataset else None,
        "versions": dict(versions),
        "device": device,
        "findings": list(findings),
        "run_dir": run_dir,
        "config": config,
    }


def change_lines(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """summary.md's list of the settings changed while the run was paused (tui.core.changes)."""
    if not changes:
        return []
    from tui.core.changes import describe

    lines = ["## Changed while paused", "", "| epoch | batch | change |", "| --- | --- | --- |"]
    for c in changes:
        lines.append(f"| {c.get('epoch')} | {c.get('batch')} | {describe(c.get('values') or {}, c.get('previous'))} |")
    return lines + [""]


def format_metric(v: Any, digits: int = 4) -> str:
    """A metric as the summaries and the CLI show it: `digits` decimals, "–" when it is missing."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_clock(seconds: float | None) -> str:
    """A time left (or taken) as a clock shows it, the one way the app and the CLI write it: "1:05", "1:01:05";
    "–" when it is not known."""
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def text_chart(series: Mapping[str, Sequence[float | None]], title: str, width: int = 70, height: int = 14,
               mark_epoch: int | None = None) -> str:
    """A plain-text line chart (plotext, no colour) of per-epoch series, for Markdown and terminals."""
    import plotext as plt

    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    plotted = False
    for (label, ys), marker in zip(series.items(), itertools.cycle(("braille", "x", "o", "+", "*", "#", "@", "%"))):
        ys = [y for y in ys if y is not None]
        if ys:
            plt.plot(list(range(1, len(ys) + 1)), ys, label=label, marker=marker)
            plotted = True
    if not plotted:
        return ""
    if mark_epoch:
        plt.vline(mark_epoch)
    plt.title(title)
    plt.xlabel("epoch")
    text = re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
    plt.clf()
    return "\n".join(line.rstrip() for line in text.splitlines())


def render_markdown(summary: Mapping[str, Any], history: Sequence[Mapping[str, float]],
                    config_toml: str = "") -> str:
    """summary.md: config, dataset, model size, best/final metrics, findings, curves, timing, environment."""
    s = summary
    lines = [f"# cnn-tui run: {Path(s.get('run_dir') or '').name or 'run'}", "",
             f"- **Status:** {s['status']}" + (f" — {s['error']}" if s.get("error") else ""),
             f"- **Epochs run:** {s['epochs_run']}",
             f"- **Wall time:** {s['wall_seconds']:.1f} s",
             f"- **Training speed:** {format_metric(s.get('train_samples_per_second'), 1)} samples/s (median, "
             f"epochs after the first)",
             f"- **Device:** {device_label(s.get('device'))}", ""]
    ds = s.get("dataset")
    if ds:
        lines += ["## Dataset", "", f"- {ds.get('name')}: {ds.get('train')} train / {ds.get('val')} validation / "
                  f"{ds.get('test')} test, {ds.get('classes')} classes, input {ds.get('input_shape')}",
                  f"- Class counts: {ds.get('class_counts')}", ""]
    if s.get("params"):
        p = s["params"]
        lines += ["## Model", "", f"- Parameters: {p['total']:,} ({p['trainable']:,} trainable)", ""]
    lines += ["## Results", "", "| | loss | accuracy | val_loss | val_accuracy |", "| --- | --- | --- | --- | --- |"]
    if s.get("final"):
        f = s["final"]
        lines.append(f"| final | {format_metric(f['loss'])} | {format_metric(f['accuracy'])} | "
                     f"{format_metric(f['val_loss'])} | {format_metric(f['val_accuracy'])} |")
    if s.get("best"):
        b = s["best"]
        lines.append(f"| best (epoch {b['epoch']}, by {b.get('monitor')}) | | | {format_metric(b['val_loss'])} | "
                     f"{format_metric(b['val_accuracy'])} |")
    if s.get("test"):
        t = s["test"]
        lines.append(f"| test | {format_metric(t.get('loss'))} | {format_metric(t.get('accuracy'))} | | |")
    lines.append("")
    lines += _test_lines(s)
    lines += change_lines(s.get("changes") or ())
    if s.get("findings"):
        lines += ["## Findings", ""]
        for f in s["findings"]:
            lines += [f"### {f['title']}", "", f"{f['explanation']}", "", f"Evidence: {f['evidence']}", "",
                      "What to try:",
                      *[f"- {fix['label'] if isinstance(fix, dict) else fix}" for fix in f["fixes"]], ""]
    if history:
        mark = next((f["epoch"] for f in s.get("findings", []) if f.get("id") == "overfitting"), None)
        for title, keys in (("Loss", ("loss", "val_loss")), ("Accuracy", ("accuracy", "val_accuracy"))):
            chart = text_chart({k: [h.get(k) for h in history] for k in keys}, title, mark_epoch=mark)
            if chart:
                lines += [f"## {title}", "", "```", chart.rstrip(), "```", ""]
        lines += ["## Epochs", "", "| epoch | loss | accuracy | val_loss | val_accuracy | lr | seconds |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for h in history:
            lines.append(f"| {h['epoch']}{'*' if h.get('partial') else ''} | {format_metric(h.get('loss'))} | "
                         f"{format_metric(h.get('accuracy'))} | {format_metric(h.get('val_loss'))} | "
                         f"{format_metric(h.get('val_accuracy'))} "
                         f"| {h.get('lr', 0):.3g} | {format_metric(h.get('epoch_seconds'), 1)} |")
        if any(h.get("partial") for h in history):
            lines.append("\n\\* cut short by a stop request")
        lines.append("")
    pictures = RunDir(Path(s["run_dir"])).inspect_files() if s.get("run_dir") else []
    if pictures:
        lines += ["## Inside the network (cnn-tui inspect)", "",
                  *[f"- [{p.stem}]({p.parent.name}/{p.name})" for p in pictures], ""]
    if s.get("lr_find"):
        from tui.core.lrfind import markdown_lines

        lines += markdown_lines(s["lr_find"])
    lines += ["## Environment", "", *[f"- {k}: {v}" for k, v in s.get("versions", {}).items()], ""]
    if config_toml:
        lines += ["## Configuration", "", "```toml", config_toml.rstrip(), "```", ""]
    return "\n".join(lines)


def _test_lines(s: Mapping[str, Any]) -> list[str]:
    """The test evaluation section, or why there is none."""
    from tui.core.evaluation import Evaluation, markdown_lines

    ev = Evaluation.from_dict(s["test"]) if s.get("test") else None
    if ev is not None:
        return markdown_lines(ev)
    if (s.get("dataset") or {}).get("test") == 0:
        return [NO_TEST_SPLIT, ""]
    return []


NO_TEST_SPLIT = ("No test split: this dataset has none and dataset.test_fraction is 0, so nothing was evaluated "
                 "on held-out data (the validation split is not reused as a test).")


def read_history_csv(path: Path) -> list[dict[str, float]]:
    """A CSVLogger file as flat rows, epochs counted from 1 (for a run directory use RunDir.read_history)."""
    return [e.as_dict() for e in read_history_file(path)]


def export_run(run_dir: Path, history: Sequence[Mapping[str, float]] | None = None,
               findings: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Path]:
    """(Re)write summary.md and summary.json for a run that has ended and list the exported files.

    Works for finished, stopped and failed runs: whatever was recorded (history.csv, models) is listed, and the
    Markdown is rendered again from the current history and findings.
    """
    rd = RunDir(run_dir)
    summary = (rd.read_summary() or RunSummary()).as_dict()
    hist = list(history) if history is not None else rd.read_history()
    if findings is not None:
        summary["findings"] = list(findings)
    summary["epochs_run"] = max(summary.get("epochs_run") or 0, len(hist))
    summary["run_dir"] = str(rd.path)
    rd.write_summary(summary, render_markdown(summary, hist, rd.config_text()))
    files = rd.exported_files()
    if rd.last_model_file.is_file():
        check_model_file(rd.last_model_file)
    return files


def check_model_file(path: Path) -> None:
    """Raise ValueError unless the saved model loads with Keras' safe mode (no code from the file runs)."""
    load_model_safe(path)


def load_model_safe(path: Path) -> Any:
    """The saved model at `path`, loaded in Keras' safe mode (uncompiled); ValueError saying why it does not load."""
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        raise ValueError(f"{path} does not load in Keras' safe mode: {exc}") from None
