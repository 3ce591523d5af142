"""A training session: one experiment run from configuration to run directory, emitting events.

The session runs `model.fit` (in the caller's thread with :meth:`run`, or in its own with :meth:`start`),
publishes immutable events on its bus (tui.core.bus: the event log, the doctor and whoever subscribed listen
there), and takes stop / pause requests at batch boundaries.
It never raises: a failure becomes a ``failed`` RunEnded event and a summary on disk.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core import config as config_mod
from tui.core.config import ExperimentConfig
from tui.core.params import ConfigError
from tui.core.bus import EventBus, Subscriber
from tui.core.diagnostics import Doctor
from tui.core.epochs import EpochHistory
from tui.core.eventlog import EventLogWriter
from tui.core.events import Diagnosis, Event, ModelSummary, Prepare, RunEnded, RunStarted, StateChanged
from tui.core.records import build_summary, render_markdown
from tui.core.rundir import RunDir

if TYPE_CHECKING:
    from tui.core.changes import RunPlan
    from tui.core.control import ControlPoller
    from tui.core.datasets import Dataset
    from tui.core.keras.progress import EventCallback
    from tui.core.tfenv import Placement

log = logging.getLogger(__name__)



Listener = Subscriber
"""A subscriber of the session's events (tui.core.bus.Subscriber)."""


EPOCH_CEILING = int(config_mod.param_for("training.epochs").maximum or 100000)
"""fit's epochs: the run ends at its plan's epochs (training.epochs, or as changed while paused), never later."""


class RunRefused(Exception):
    """The experiment cannot run as configured (said before any training); the message says how to fix it."""


def default_runs_dir() -> Path:
    return Path("runs")


class TrainingSession:
    """One run of one experiment. Subscribe listeners, then `run()` (blocking) or `start()` (a thread)."""

    def __init__(self, config: ExperimentConfig, runs_dir: str | Path | None = None,
                 listeners: list[Listener] | None = None, batch_interval: float = 0.25,
                 name: str | None = None, lr_find: dict[str, Any] | None = None) -> None:
        self.config = config
        self.lr_find = lr_find
        """The learning-rate range test run before this run (RangeTestResult.to_dict()), kept in its summary."""
        self.name = name
        """The run directory's name after its timestamp (default: dataset-architecture)."""
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.batch_interval = batch_interval
        self.bus = EventBus()
        """Where the run's events are published; the event log (while the run directory is open), the doctor
        and `listeners` subscribe."""
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._running = threading.Event()
        """Clear while paused: the training thread waits on it at a batch boundary."""
        self._running.set()
        self._thread: threading.Thread | None = None
        self.run_dir: Path | None = None
        self.history: Sequence[Mapping[str, Any]] = EpochHistory()
        """Every epoch's record (the event callback's, compact: tui.core.epochs), once training has run."""
        self.result: RunEnded | None = None
        self._event_log: EventLogWriter | None = None
        self._close_event_log: Callable[[], None] | None = None
        self._resume = False
        self.doctor = Doctor(config)
        for listener in listeners or ():
            self.bus.subscribe(listener)
        self.bus.subscribe(self._consult_doctor, name="the doctor")
        self._diverged = False
        from tui.core.inside import InsideTap

        self.inside_tap = InsideTap()
        """Weight snapshots at epoch end for the inside view, taken only while the view has the tap open."""
        self.data: Dataset | None = None
        """The loaded dataset once training starts (read-only for viewers: the inside view picks images from it)."""
        self.detached = False
        """Started with --detach: recorded in the owner record (tui.core.owner)."""
        self._control: ControlPoller | None = None
        self.plan: RunPlan | None = None
        """The run's tui.core.changes.RunPlan once training starts: epochs and the settings changed while paused."""

    @classmethod
    def in_run_dir(cls, run_dir: str | Path, listeners: list[Listener] | None = None,
                   batch_interval: float = 0.25) -> "TrainingSession":
        """A new run in a directory made for it beforehand (holding its config.toml), as `--detach` does."""
        run_dir = Path(run_dir)
        session = cls(RunDir(run_dir).read_config(), runs_dir=run_dir.parent, listeners=listeners,
                      batch_interval=batch_interval)
        session.run_dir = run_dir
        return session

    @classmethod
    def resume_from(cls, run_dir: str | Path, listeners: list[Listener] | None = None,
               batch_interval: float = 0.25) -> "TrainingSession":
        """A session that continues an interrupted run in its own directory (from Keras' BackupAndRestore)."""
        run_dir = Path(run_dir)
        config = RunDir(run_dir).read_config()
        session = cls(config, runs_dir=run_dir.parent, listeners=listeners, batch_interval=batch_interval)
        session.run_dir = run_dir
        session._resume = True
        previous = RunDir(run_dir).read_summary()  # a range test recorded by an earlier part of this run stays
        if previous is not None and previous.lr_find:
            session.lr_find = dict(previous.lr_find)
        return session

    # -- control (any thread) ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self.bus.subscribe(listener)

    def stop(self) -> None:
        """Ask the run to stop at the next batch boundary (also ends a pause)."""
        if not self._stop.is_set():
            self._stop.set()
            self._emit(StateChanged("stopping"))
        self._pause.clear()
        self._running.set()

    def pause(self) -> None:
        """Hold training at the next batch boundary until resume() or stop()."""
        self._running.clear()
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()
        self._running.set()

    def change(self, params: dict[str, Any]) -> str:
        """Change settings of the paused run ({"section.key": value or text}; tui.core.changes.CHANGEABLE): checked
        now (ValueError says what is wrong and how to fix it), applied in the training thread when it continues.
        The app's form and the control channel (an attached view) both come here."""
        from tui.core.changes import describe

        if self.result is not None:
            raise ValueError("the run has ended")
        if self.plan is None:
            raise ValueError("training has not started yet: wait for the first batch, pause (p), then change")
        if not self.paused:
            raise ValueError("pause the run first (p); changes are made while it is paused")
        values = self.plan.check(params)
        self.plan.request(values)
        return f"{describe(values)}: applied when training continues"

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="cnn-tui-training", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # -- the run ------------------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self.bus.publish(event)

    def _consult_doctor(self, event: Event) -> None:
        """The doctor's subscription: it folds each event into its findings and says when they change."""
        if not isinstance(event, Diagnosis) and self.doctor.observe(event):
            self._diagnosis()

    def _diagnosis(self) -> None:
        """Tell subscribers the doctor's findings changed; a divergence stops the run at once."""
        self._emit(Diagnosis(tuple(self.doctor.findings)))
        if (self.doctor.diverged and self.config.training.stop_on_divergence and self.result is None
                and not self._stop.is_set()):
            self._diverged = True
            self.stop()

    def run(self) -> RunEnded:
        """Run the experiment to the end (finished, stopped or failed) and return the final event: prepare (run
        directory, TensorFlow, data, model, callbacks), fit, evaluate on the test split, conclude (summary, the
        RunEnded event). Never raises: a failure at any phase becomes a failed run with its message."""
        run = _RunState(time.perf_counter())
        try:
            self._prepare(run)
            self._fit(run)
            self._evaluate(run)
        except _Stopped:
            run.status, run.error = "stopped", None
        except (RunRefused, ConfigError) as exc:
            run.status, run.error = "failed", str(exc)
        except Exception as exc:  # every failure becomes a failed run with its message
            run.status, run.error = "failed", _describe(exc)
            log.debug("run failed", exc_info=True)
            if self.run_dir is not None:
                try:
                    RunDir(self.run_dir).write_error(traceback.format_exc())
                except OSError:
                    pass
        if run.event_cb is not None:
            self.history = run.event_cb.history
        return self._conclude(run)

    # -- prepare -------------------------------------------------------------------------------------------------
    def _prepare(self, run: _RunState) -> None:
        """Everything before model.fit, in the order a person sees it: the run directory, a shape that cannot
        work refused, TensorFlow, the data, the model, the input pipelines and callbacks; ends with RunStarted."""
        from tui.core import datasets, tfenv

        resume = self._open_run_dir(run)
        known = datasets.known_shape(self.config.dataset)  # impossible shapes refused before anything slow
        if known:
            from models import check_model

            reason = check_model(self.config, *known)
            if reason:
                raise RunRefused(reason)
        self._emit(Prepare("tensorflow", "Loading TensorFlow…"))
        tfenv.import_tensorflow()
        run.versions = tfenv.versions()
        cfg = self.config
        where = tfenv.placement(config_mod.parse_devices(cfg.training.devices), cfg.training.mixed_precision,
                                cfg.training.batch_size)
        run.device = where.info
        data = self._load_data(run)
        summary = self._build_model(run, data, where)
        plan = self._make_callbacks(run, data, resume)
        self._emit(RunStarted(str(self.run_dir), cfg, data.info, summary, plan.epochs, run.steps,
                              cfg.training.batch_size))
        self.plan = plan
        if self._stop.is_set():
            raise _Stopped()

    def _open_run_dir(self, run: _RunState) -> _ResumePoint:
        """A new run directory with its config.toml (unless given one), or the resume point of the run in it; then
        the event log, the owner record and the control channel."""
        resume = _ResumePoint()
        if self._resume:
            assert self.run_dir is not None
            resume.epoch, resume.history = _resume_point(RunDir(self.run_dir))
            self.doctor.seed(resume.history)  # findings continue from the epochs already run
            resume.changes = RunDir(self.run_dir).read_changes()
        elif self.run_dir is None:
            cfg = self.config
            try:
                self.run_dir = RunDir.create(self.runs_dir,
                                             self.name or f"{cfg.dataset.name}-{cfg.model.architecture}").path
            except OSError as exc:
                raise RunRefused(f"cannot create a run directory under {self.runs_dir}: {exc.strerror or exc}; "
                                 "choose a writable folder with --runs-dir") from None
            RunDir(self.run_dir).write_config(cfg)
        run.opened = True
        self._event_log = EventLogWriter(RunDir(self.run_dir).events_file)
        # first: an event is in the log before any other subscriber reacts to it
        self._close_event_log = self.bus.subscribe(self._event_log.write, name="the event log", first=True)
        RunDir(self.run_dir).mark_running(detached=self.detached)
        from tui.core import control

        # Stop / pause / resume / change requests from any process (an attached view), the one channel.
        self._control = control.ControlPoller(self.run_dir, self, self._emit).start()
        return resume

    def _load_data(self, run: _RunState) -> Dataset:
        """The dataset, loaded with visible progress; refused when its splits cannot train this configuration."""
        from tui.core import datasets

        cfg = self.config
        self._emit(Prepare("dataset", f"Preparing {cfg.dataset.name}…"))
        data = datasets.load_dataset(
            cfg.dataset, lambda msg, done, total: self._emit(Prepare("dataset", msg, done, total)))
        run.data = self.data = data
        if self._stop.is_set():
            raise _Stopped()
        n_train = len(data.x_train)
        if cfg.training.batch_size > n_train:
            raise RunRefused(f"training.batch_size = {cfg.training.batch_size} is larger than the training "
                             f"set ({n_train} samples); use a batch size of at most {n_train}")
        if len(data.x_val) == 0:
            raise RunRefused("the validation split is empty; raise dataset.val_fraction")
        return data

    def _build_model(self, run: _RunState, data: Dataset, where: Placement) -> ModelSummary:
        """The compiled model (seeded: the same weights on every build), on every device of the placement."""
        from models import ArchitectureError
        from tui.core import keras_parts, weights

        cfg = self.config
        self._emit(Prepare("model", f"Building {cfg.model.architecture}…" + (
            f" on {where.replicas} devices ({where.info['strategy']}), global batch {cfg.training.batch_size} = "
            f"{where.info['per_replica_batch']} per replica" if where.replicas > 1 else "")))
        try:
            # Weights from outside (the transfer backbone's ImageNet file) downloaded with visible progress.
            weights.prepare(cfg, data.info.input_shape,
                            lambda msg, done, total: self._emit(Prepare("weights", msg, done, total)))
        except ArchitectureError as exc:
            raise RunRefused(str(exc)) from None
        if self._stop.is_set():
            raise _Stopped()
        with where.scope():  # variables mirrored on every device when there are several
            try:
                run.model = keras_parts.build_seeded(cfg, data.info.input_shape, data.info.num_classes)
            except ArchitectureError as exc:
                raise RunRefused(str(exc)) from None
            if cfg.training.mixed_precision:  # the classifier's output stays float32
                import keras

                model = run.model
                run.model = keras.Model(model.inputs, keras.layers.Activation("linear", dtype="float32")(
                    model.outputs[0]), name=model.name)
            run.model.compile(optimizer=keras_parts.make_optimizer(cfg), loss=cfg.training.loss,
                              metrics=keras_parts.make_metrics(cfg))
        summary = keras_parts.summarize(run.model)
        run.params = {"total": summary.total_params, "trainable": summary.trainable_params}
        return summary

    def _make_callbacks(self, run: _RunState, data: Dataset, resume: _ResumePoint) -> RunPlan:
        """The input pipelines (from the resume point on), the run's plan and the callback list."""
        from tui.core import keras_parts
        from tui.core.changes import RunPlan
        from tui.core.keras.changes import ChangeApplier
        from tui.core.keras.gradients import GradientFlow
        from tui.core.keras.inside import InsideSnapshot
        from tui.core.keras.progress import EventCallback

        assert self.run_dir is not None
        cfg = self.config
        num_classes, n_train = data.info.num_classes, len(data.x_train)
        run.train_ds = keras_parts.make_dataset(data.x_train, data.y_train, num_classes, cfg, shuffle=True,
                                                initial_epoch=resume.epoch, until_epoch=EPOCH_CEILING)
        run.val_ds = keras_parts.make_dataset(data.x_val, data.y_val, num_classes, cfg, shuffle=False)
        run.steps = steps = keras_parts.steps_for(n_train, cfg.training.batch_size)
        # Changes made while paused before a resume point are in force from the start; later ones are made
        # again where they were (changes.json is cut back to match, as history.csv is).
        run.plan = plan = RunPlan(cfg, resume.changes, resume_epoch=resume.epoch)
        run_dir = RunDir(self.run_dir)
        if self._resume:
            run_dir.write_changes(plan.applied)
        change_cb = ChangeApplier(plan, self._emit, steps, on_applied=run_dir.write_changes)
        run.event_cb = EventCallback(
            self._emit, steps=steps, batch_size=cfg.training.batch_size, train_samples=n_train,
            epochs=lambda: plan.epochs, stop_event=self._stop, pause_event=self._pause,
            running_event=self._running,
            batch_interval=self.batch_interval, previous=resume.history)
        extra = [GradientFlow(self._emit, data.x_train, data.y_train, num_classes, cfg)
                 ] if cfg.training.gradient_every else []
        extra.append(InsideSnapshot(self.inside_tap))
        run.callbacks = keras_parts.make_callbacks(cfg, self.run_dir, run.event_cb, *extra, change=change_cb)
        return plan

    # -- fit -----------------------------------------------------------------------------------------------------
    def _fit(self, run: _RunState) -> None:
        """model.fit up to the plan's epochs (or a stop, a NaN, a divergence); then the run's status."""
        from tui.core import keras_parts

        data, event_cb, plan = run.data, run.event_cb, run.plan
        assert data is not None and event_cb is not None and plan is not None
        # Up to a ceiling: the change callback ends the run at plan.epochs, which a change may raise.
        run.model.fit(run.train_ds, validation_data=run.val_ds, epochs=EPOCH_CEILING, steps_per_epoch=run.steps,
                      callbacks=run.callbacks, verbose=0, shuffle=False,  # tf.data shuffles, seeded per epoch
                      class_weight=keras_parts.class_weights(self.config, data.y_train, data.info.num_classes))
        # A stop mid-epoch leaves Keras' epoch iterator (a suspended generator that holds the tf.data iterator) in
        # a reference cycle. Collected here, on the training thread: left to whichever thread next collects garbage,
        # it was the UI's, which froze for 8 s while TensorFlow tore the input pipeline down (measured in the app).
        gc.collect()
        self.history = event_cb.history
        diverged = self.doctor.diverged if self._diverged else None  # (a divergence this run stopped itself for)
        run.status, run.error = fit_status(self.history, plan.epochs, stop_requested=self._stop.is_set(),
                                           divergence=diverged.evidence if diverged is not None else None)

    def _evaluate(self, run: _RunState) -> None:
        """The test split's numbers (and the doctor's look at them), unless the run failed or has none."""
        data = run.data
        assert data is not None
        if data.x_test is not None and len(data.x_test) and run.status != "failed":
            assert self.run_dir is not None
            self._emit(Prepare("test", "Evaluating on the test split…"))
            run.test = _evaluate_test(run.model, data, self.config, self.run_dir)
            if self.doctor.observe_test(run.test):
                self._diagnosis()

    # -- conclude ------------------------------------------------------------------------------------------------
    def _conclude(self, run: _RunState) -> RunEnded:
        """The last model and the summary written (whatever phase the run reached), RunEnded emitted, the control
        channel, owner record and event log closed."""
        status, error = run.status, run.error
        summary: dict[str, Any] = {}
        try:
            if self.run_dir is not None and run.opened:
                if run.model is not None:
                    from tui.core.keras.saving import BestModel

                    for cb in run.callbacks:  # fit's end wrote it, unless fit raised
                        if isinstance(cb, BestModel):
                            try:
                                cb.write_pending()
                            except Exception as exc:
                                log.warning("could not save the best model: %s", exc)
                    try:
                        run.model.save(RunDir(self.run_dir).last_model_file)
                    except Exception as exc:
                        log.warning("could not save the last model: %s", exc)
                ds = None
                if run.data is not None:
                    i = run.data.info
                    ds = {"name": i.name, "train": i.train, "val": i.val, "test": i.test, "classes": i.num_classes,
                          "input_shape": list(i.input_shape), "class_names": list(i.class_names),
                          "class_counts": list(i.class_counts), "skipped": dict(i.skipped), "source": i.source}
                versions = run.versions
                if not versions:
                    import platform

                    versions = {"python": platform.python_version()}
                summary = build_summary(
                    status=status, error=error, history=self.history, test=run.test,
                    wall_seconds=time.perf_counter() - run.t_start, params=run.params, dataset=ds, versions=versions,
                    device=run.device, monitor=self.config.monitored,
                    findings=[f.as_dict() for f in self.doctor.findings], run_dir=str(self.run_dir),
                    config=self.config.to_dict())
                if self.lr_find:
                    summary["lr_find"] = self.lr_find
                summary["changes"] = list(self.plan.applied) if self.plan is not None else (
                    RunDir(self.run_dir).read_changes())
                RunDir(self.run_dir).write_summary(
                    summary, render_markdown(summary, self.history, config_mod.dumps(self.config)))
        except Exception as exc:  # e.g. the disk filled up: say so in the result
            error = (error + "; " if error else "") + f"could not write the run summary: {_describe(exc)}"
            status = "failed"
        self.result = RunEnded(status, error, str(self.run_dir) if self.run_dir else None, summary)
        self._emit(self.result)
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.run_dir is not None and run.opened:  # after RunEnded is in the log: never an owner-less live run
            RunDir(self.run_dir).clear_running()
        if self._close_event_log is not None:
            self._close_event_log()
            self._close_event_log = None
        if self._event_log is not None:
            self._event_log.close()
            self._event_log = None
        return self.result


@dataclass
class _ResumePoint:
    """Where a resumed run goes on: the epoch Keras' backup holds, the epochs recorded up to it, the changes made
    while paused (all empty for a new run)."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _RunState:
    """What one run has gathered, phase by phase: conclude writes the summary from it however far the run got."""

    t_start: float
    opened: bool = False
    """The run directory is this session's to write: new, or an unfinished run's resume point was found (a refused
    resume leaves the finished run it was pointed at as it was)."""
    status: str = "failed"
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    device: Any = "unknown"
    """The placement's description (tui.core.tfenv.Placement.info) once TensorFlow is loaded."""
    data: Dataset | None = None
    model: Any = None
    params: dict[str, int] | None = None
    train_ds: Any = None
    val_ds: Any = None
    steps: int = 0
    plan: RunPlan | None = None
    callbacks: list[Any] = field(default_factory=list)
    event_cb: EventCallback | None = None
    test: dict[str, Any] | None = None


def fit_status(history: Sequence[Mapping[str, float]], epochs: int, *, stop_requested: bool,
               divergence: str | None = None) -> tuple[str, str | None]:
    """(status, error) of a fit that returned, from its epoch records: failed on a NaN loss (naming the epoch and
    what to try) or on a `divergence` the run stopped for (its evidence), stopped when a stop request cut it short
    (an epoch partial or missing), else finished."""
    nan_epoch = next((h["epoch"] for h in history if _not_finite(h.get("loss"))), None)
    if nan_epoch is not None:
        return "failed", (f"loss became NaN/inf in epoch {nan_epoch}; training was stopped (TerminateOnNaN). "
                          "Likely causes: a learning rate too high, unscaled inputs, no gradient clipping "
                          "(try optimizer.learning_rate ÷ 10 or optimizer.clipnorm = 1.0)")
    if divergence is not None:
        return "failed", f"training diverged: {divergence}"
    # A stop that arrives after the last epoch (during the test evaluation, say) cut nothing short.
    cut = not history or any(h.get("partial") for h in history) or history[-1]["epoch"] < epochs
    return ("stopped" if stop_requested and cut else "finished"), None


class _Stopped(Exception):
    pass


def _evaluate_test(model: Any, data: Dataset, cfg: ExperimentConfig, run_dir: Path) -> dict[str, Any]:
    """The test block of the summary: Keras' test loss, and every other number from one pass of predictions;
    a few confident mistakes and correct predictions go to predictions.npz for viewing."""
    import numpy as np

    from tui.core import evaluation, keras_parts

    assert data.x_test is not None and data.y_test is not None
    test_ds = keras_parts.make_dataset(data.x_test, data.y_test, data.info.num_classes, cfg, shuffle=False)
    loss = float(model.evaluate(test_ds, verbose=0, return_dict=True)["loss"])
    probs = np.asarray(model.predict(test_ds, verbose=0))
    result = evaluation.evaluate(data.y_test, probs.argmax(axis=1), data.info.class_names, loss=loss)
    try:
        examples = evaluation.examples_from(data.x_test, probs, data.y_test, data.info.class_names,
                                            seed=cfg.training.seed)
        evaluation.save_examples(RunDir(run_dir).predictions_file, examples)
    except OSError as exc:
        log.warning("could not save the example predictions: %s", exc)
    return result.as_dict()


def _resume_point(run_dir: RunDir) -> tuple[int, list[dict[str, float]]]:
    """The epoch Keras' backup will resume at, and the history recorded before it (history.csv is cut back to
    match, so an epoch recorded after the last backup is trained again rather than counted twice)."""
    epoch = run_dir.backup_epoch()
    if epoch is None:
        raise RunRefused(f"{run_dir.path} has nothing to resume: no backup of an unfinished run (finished and "
                         "stopped runs delete it; a run killed during its first epoch has none yet)")
    history = [h for h in run_dir.read_history() if h["epoch"] <= epoch]
    run_dir.truncate_history(len(history))
    return epoch, history


def _not_finite(v: Any) -> bool:
    import math

    return v is not None and not math.isfinite(v)


def _describe(exc: BaseException) -> str:
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    # TensorFlow's graph errors start with "in user code:" and end with the message that matters.
    first = (text[-1] if text[0].startswith("in user code") else text[0]) if text else ""
    if len(first) > 400:
        first = first[:400] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
