"""Same seed, same curves — also when the set-up screen builds its model summary while training builds the model
(`cnn-tui --preset ... --start`). The overlap is forced: one build is held after its first layer until the other
has run, so these fail every time on a shared seed counter rather than by timing."""

import threading

import numpy as np

from models import build_model, common
from tui.core import config as cfg
from tui.core.session import TrainingSession

TINY = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "mlp",
        "model.hidden_units": [16, 16], "training.epochs": 2, "training.batch_size": 32, "training.seed": 7}
SHAPE, CLASSES = (8, 8, 1), 10


def _hold_first_layer_of(thread_name: str, until: threading.Event, monkeypatch) -> threading.Event:
    """Hold the build running in thread `thread_name` after its first seeded layer until `until` is set;
    the returned event is set once that build is held."""
    real = common.initializer
    held = threading.Event()

    def initializer(*args, **kwargs):
        made = real(*args, **kwargs)
        if threading.current_thread().name == thread_name and not held.is_set():
            held.set()
            assert until.wait(120), "the other build never ran"
        return made

    monkeypatch.setattr(common, "initializer", initializer)
    return held


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_two_builds_that_overlap_give_the_weights_of_a_build_alone(monkeypatch):
    config = cfg.ExperimentConfig().with_values(TINY)
    alone = _weights(build_model(config, SHAPE, CLASSES))
    other_done = threading.Event()
    held = _hold_first_layer_of("training", other_done, monkeypatch)
    built = {}

    def build(name):
        built[name] = _weights(build_model(config, SHAPE, CLASSES))

    training = threading.Thread(target=build, args=("training",), name="training")
    training.start()
    assert held.wait(120)
    build("summary")  # the set-up screen's model summary, built while training's build is under way
    other_done.set()
    training.join(120)
    for name in ("training", "summary"):
        assert len(built[name]) == len(alone)
        assert all(np.array_equal(a, b) for a, b in zip(built[name], alone)), f"{name} build differs"


def _curve(session):
    return [(h["epoch"], round(h["loss"], 6), round(h["val_accuracy"], 6)) for h in session.history]


def test_training_with_a_summary_built_meanwhile_gives_the_headless_curves(tmp_path, monkeypatch):
    config = cfg.ExperimentConfig().with_values(TINY)
    headless = TrainingSession(config, runs_dir=tmp_path / "headless")
    assert headless.run().status == "finished"
    summary_built = threading.Event()
    held = _hold_first_layer_of("cnn-tui-training", summary_built, monkeypatch)
    session = TrainingSession(config, runs_dir=tmp_path / "app")
    session.start()  # its thread is named cnn-tui-training
    assert held.wait(300)
    build_model(config, SHAPE, CLASSES)  # what the set-up screen's summary worker does meanwhile
    summary_built.set()
    assert session.join(300) and session.result.status == "finished"
    assert _curve(session) == _curve(headless)
