"""A training session: one experiment run from configuration to run directory, emitting events.

The session runs `model.fit` (in the caller's thread with :meth:`run`, or in its own with :meth:`start`),
reports through immutable events to whoever subscribed, and takes stop / pause requests at batch boundaries.
It never raises: a failure becomes a ``failed`` RunEnded event and a summary on disk.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core import config as config_mod
from tui.core.config import ExperimentConfig
from tui.core.params import ConfigError
from tui.core.diagnostics import Doctor
from tui.core.eventlog import EventLogWriter
from tui.core.events import Diagnosis, Event, Prepare, RunEnded, RunStarted, StateChanged
from tui.core.records import build_summary, render_markdown
from tui.core.rundir import RunDir

if TYPE_CHECKING:
    from tui.core.changes import RunPlan
    from tui.core.control import ControlPoller
    from tui.core.datasets import Dataset

log = logging.getLogger(__name__)



Listener = Callable[[Event], None]


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
        self._listeners: list[Listener] = list(listeners or [])
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._running = threading.Event()
        """Clear while paused: the training thread waits on it at a batch boundary."""
        self._running.set()
        self._thread: threading.Thread | None = None
        self.run_dir: Path | None = None
        self.history: list[dict[str, float]] = []
        self.result: RunEnded | None = None
        self._event_log: EventLogWriter | None = None
        self._resume = False
        self.doctor = Doctor(config)
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
        self._listeners.append(listener)

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
        if self._event_log is not None:
            self._event_log.write(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not kill training
                log.exception("event listener failed")
        try:
            changed = not isinstance(event, Diagnosis) and self.doctor.observe(event)
        except Exception:  # a broken rule must not kill training either
            log.exception("the doctor failed on %s", type(event).__name__)
            changed = False
        if changed:
            self._diagnosis()

    def _diagnosis(self) -> None:
        """Tell listeners the doctor's findings changed; a divergence stops the run at once."""
        self._emit(Diagnosis(tuple(self.doctor.findings)))
        if (self.doctor.diverged and self.config.training.stop_on_divergence and self.result is None
                and not self._stop.is_set()):
            self._diverged = True
            self.stop()

    def run(self) -> RunEnded:
        """Run the experiment to the end (finished, stopped or failed) and return the final event."""
        t_start = time.perf_counter()
        status, error = "failed", None
        dataset_info: Any = None
        model: Any = None
        params: dict[str, int] | None = None
        test: dict[str, Any] | None = None
        event_cb: Any = None
        versions: dict[str, str] = {}
        device: Any = "unknown"
        cfg = self.config
        try:
            from tui.core import datasets, keras_parts, tfenv

            from tui.core.changes import RunPlan

            initial_epoch, previous = 0, list[dict[str, float]]()
            recorded: list[dict[str, Any]] = []
            if self._resume:
                assert self.run_dir is not None
                initial_epoch, previous = _resume_point(RunDir(self.run_dir))
                self.doctor.seed(previous)  # findings continue from the epochs already run
                recorded = RunDir(self.run_dir).read_changes()
            elif self.run_dir is None:
                try:
                    self.run_dir = RunDir.create(self.runs_dir,
                                                 self.name or f"{cfg.dataset.name}-{cfg.model.architecture}").path
                except OSError as exc:
                    raise RunRefused(f"cannot create a run directory under {self.runs_dir}: {exc.strerror or exc}; "
                                     "choose a writable folder with --runs-dir") from None
                RunDir(self.run_dir).write_config(cfg)
            self._event_log = EventLogWriter(RunDir(self.run_dir).events_file)
            RunDir(self.run_dir).mark_running(detached=self.detached)
            from tui.core import control

            # Stop / pause / resume / change requests from any process (an attached view), the one channel.
            self._control = control.ControlPoller(self.run_dir, self, self._emit).start()

            from models import ArchitectureError, check_model
            from tui.core import weights

            # Refuse impossible shapes before anything slow when the shape is known up front.
            known = datasets.known_shape(cfg.dataset)
            if known:
                reason = check_model(cfg, *known)
                if reason:
                    raise RunRefused(reason)

            self._emit(Prepare("tensorflow", "Loading TensorFlow…"))
            tfenv.import_tensorflow()
            from tui.core.keras.changes import ChangeApplier
            from tui.core.keras.gradients import GradientFlow
            from tui.core.keras.inside import InsideSnapshot
            from tui.core.keras.progress import EventCallback

            versions = tfenv.versions()
            where = tfenv.placement(config_mod.parse_devices(cfg.training.devices), cfg.training.mixed_precision,
                                    cfg.training.batch_size)
            device = where.info

            self._emit(Prepare("dataset", f"Preparing {cfg.dataset.name}…"))
            data = datasets.load_dataset(
                cfg.dataset, lambda msg, done, total: self._emit(Prepare("dataset", msg, done, total)))
            dataset_info = data.info
            self.data = data
            if self._stop.is_set():
                raise _Stopped()
            n_train = len(data.x_train)
            if cfg.training.batch_size > n_train:
                raise RunRefused(f"training.batch_size = {cfg.training.batch_size} is larger than the training "
                                 f"set ({n_train} samples); use a batch size of at most {n_train}")
            if len(data.x_val) == 0:
                raise RunRefused("the validation split is empty; raise dataset.val_fraction")

            self._emit(Prepare("model", f"Building {cfg.model.architecture}…" + (
                f" on {where.replicas} devices ({where.info['strategy']}), global batch {cfg.training.batch_size} = "
                f"{where.info['per_replica_batch']} per replica" if where.replicas > 1 else "")))
            num_classes = data.info.num_classes
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
                    model = keras_parts.build_seeded(cfg, data.info.input_shape, num_classes)
                except ArchitectureError as exc:
                    raise RunRefused(str(exc)) from None
                if cfg.training.mixed_precision:  # the classifier's output stays float32
                    import keras

                    model = keras.Model(model.inputs, keras.layers.Activation("linear", dtype="float32")(
                        model.outputs[0]), name=model.name)
                model.compile(optimizer=keras_parts.make_optimizer(cfg), loss=cfg.training.loss,
                              metrics=keras_parts.make_metrics(cfg))
            summary = keras_parts.summarize(model)
            params = {"total": summary.total_params, "trainable": summary.trainable_params}

            train_ds = keras_parts.make_dataset(data.x_train, data.y_train, num_classes, cfg, shuffle=True,
                                                initial_epoch=initial_epoch, until_epoch=EPOCH_CEILING)
            val_ds = keras_parts.make_dataset(data.x_val, data.y_val, num_classes, cfg, shuffle=False)
            steps = keras_parts.steps_for(n_train, cfg.training.batch_size)
            # Changes made while paused before a resume point are in force from the start; later ones are made
            # again where they were (changes.json is cut back to match, as history.csv is).
            plan = RunPlan(cfg, recorded, resume_epoch=initial_epoch)
            if self._resume:
                RunDir(self.run_dir).write_changes(plan.applied)
            run_dir = RunDir(self.run_dir)
            change_cb = ChangeApplier(plan, self._emit, steps, on_applied=run_dir.write_changes)
            event_cb = EventCallback(
                self._emit, steps=steps, batch_size=cfg.training.batch_size, train_samples=n_train,
                epochs=lambda: plan.epochs, stop_event=self._stop, pause_event=self._pause,
                running_event=self._running,
                batch_interval=self.batch_interval, previous=previous)
            extra = [GradientFlow(self._emit, data.x_train, data.y_train, num_classes, cfg)
                     ] if cfg.training.gradient_every else []
            extra.append(InsideSnapshot(self.inside_tap))
            callbacks = keras_parts.make_callbacks(cfg, self.run_dir, event_cb, *extra, change=change_cb)
            self._emit(RunStarted(str(self.run_dir), cfg, data.info, summary, plan.epochs, steps,
                                  cfg.training.batch_size))
            self.plan = plan
            if self._stop.is_set():
                raise _Stopped()
            # Up to a ceiling: the change callback ends the run at plan.epochs, which a change may raise.
            model.fit(train_ds, validation_data=val_ds, epochs=EPOCH_CEILING, steps_per_epoch=steps,
                      callbacks=callbacks, verbose=0, shuffle=False,  # tf.data shuffles, seeded per epoch
                      class_weight=keras_parts.class_weights(cfg, data.y_train, num_classes))
            self.history = event_cb.history
            nan_epoch = next((h["epoch"] for h in self.history if _not_finite(h.get("loss"))), None)
            if nan_epoch is not None:
                status = "failed"
                error = (f"loss became NaN/inf in epoch {nan_epoch}; training was stopped (TerminateOnNaN). "
                         "Likely causes: a learning rate too high, unscaled inputs, no gradient clipping "
                         "(try optimizer.learning_rate ÷ 10 or optimizer.clipnorm = 1.0)")
            elif self._diverged and self.doctor.diverged:
                status, error = "failed", f"training diverged: {self.doctor.diverged.evidence}"
            else:
                # A stop that arrives after the last epoch (during the test evaluation, say) cut nothing short.
                cut = (not self.history or any(h.get("partial") for h in self.history)
                       or self.history[-1]["epoch"] < plan.epochs)
                status = "stopped" if self._stop.is_set() and cut else "finished"
            if data.x_test is not None and len(data.x_test) and status != "failed":
                self._emit(Prepare("test", "Evaluating on the test split…"))
                test = _evaluate_test(model, data, cfg, self.run_dir)
                if self.doctor.observe_test(test):
                    self._diagnosis()
        except _Stopped:
            status, error = "stopped", None
        except (RunRefused, ConfigError) as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # every failure becomes a failed run with its message
            status, error = "failed", _describe(exc)
            log.debug("run failed", exc_info=True)
            if self.run_dir is not None:
                try:
                    RunDir(self.run_dir).write_error(traceback.format_exc())
                except OSError:
                    pass
        if event_cb is not None:
            self.history = event_cb.history
        return self._finish(status, error, t_start, model, params, test, dataset_info, versions, device)

    def _finish(self, status: str, error: str | None, t_start: float, model: Any, params: Any, test: Any,
                dataset_info: Any, versions: dict[str, str], device: str) -> RunEnded:
        summary: dict[str, Any] = {}
        try:
            if self.run_dir is not None:
                if model is not None:
                    try:
                        model.save(RunDir(self.run_dir).last_model_file)
                    except Exception as exc:
                        log.warning("could not save the last model: %s", exc)
                ds = None
                if dataset_info is not None:
                    i = dataset_info
                    ds = {"name": i.name, "train": i.train, "val": i.val, "test": i.test, "classes": i.num_classes,
                          "input_shape": list(i.input_shape), "class_names": list(i.class_names),
                          "class_counts": list(i.class_counts), "skipped": dict(i.skipped), "source": i.source}
                if not versions:
                    import platform

                    versions = {"python": platform.python_version()}
                summary = build_summary(
                    status=status, error=error, history=self.history, test=test,
                    wall_seconds=time.perf_counter() - t_start, params=params, dataset=ds, versions=versions,
                    device=device, monitor=self.config.training.monitor,
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
        if self.run_dir is not None:  # after RunEnded is in the log: a viewer never sees an owner-less live run
            RunDir(self.run_dir).clear_running()
        if self._event_log is not None:
            self._event_log.close()
            self._event_log = None
        return self.result


class _Stopped(Exception):
    pass


def _evaluate_test(model: Any, data: Any, cfg: ExperimentConfig, run_dir: Path) -> dict[str, Any]:
    """The test block of the summary: Keras' test loss, and every other number from one pass of predictions;
    a few confident mistakes and correct predictions go to predictions.npz for viewing."""
    import numpy as np

    from tui.core import evaluation, keras_parts

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
