"""The study presets are the study notes' own experiments (../shared/seeds): each names its source, builds the note's
network (its parameter count, worked out below from the note's description, not read off Keras), and the quick ones
reach the note's published figure on the real data."""

import json
import os
from pathlib import Path

import pytest

from models import build_model
from tui.core import config as cfg
from tui.core import datasets
from tui.core.presets import list_presets, read_meta, resolve

# ../shared/data beside the checkout (CI), or wherever $CNN_TUI_SHARED_DATA points (a git worktree elsewhere)
SHARED_DATA = Path(os.environ.get("CNN_TUI_SHARED_DATA") or Path(__file__).parents[1].parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="real datasets in ../shared/data not present")


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:  # gamma, beta and the two moving statistics count in Keras' count_params()
    return 4 * c


def resnet56_keras_v1() -> int:
    """Note 002's CreateModel: Conv16+BN, then per stage 9 blocks of Conv-BN-Conv-BN (+ a 1x1 projection without BN at
    the first block of stages 2 and 3), GAP, Dense 10; every convolution has a bias."""
    total = conv(3, 3, 16) + bn(16)
    c_in = 16
    for c in (16, 32, 64):
        for _ in range(9):
            total += conv(3, c_in, c) + bn(c) + conv(3, c, c) + bn(c)
            if c_in != c:
                total += conv(1, c_in, c)
            c_in = c
    return total + dense(64, 10)


# preset → (parameters from the note's description, where the description is, input shape, classes)
NOTE_MODELS = {
    # 000 make_model_1(10, 256): Conv10 (32→30) → pool 15 → Dense 256 → Dense 10
    "cifar10-simple-cnn": (conv(3, 3, 10) + dense(15 * 15 * 10, 256) + dense(256, 10), "000 make_model_1", 3),
    "cifar10-width-sweep": (conv(3, 3, 10) + dense(15 * 15 * 10, 256) + dense(256, 10), "000 make_model_1", 3),
    # 000 make_model_2(10, 256): Conv10, Conv10 (32→30→28) → pool 14 → Dense 256 → Dense 10
    "cifar10-two-conv": (conv(3, 3, 10) + conv(3, 10, 10) + dense(14 * 14 * 10, 256) + dense(256, 10),
                         "000 make_model_2", 3),
    # 000 make_model_3 / _4(32, 256): 32→30→28 → pool 14 → 12→10 → pool 5; Dense 256, Dense int(256·0.6) = 153
    "cifar10-deep-cnn": (conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64) + dense(5 * 5 * 64, 256)
                         + dense(256, 153) + dense(153, 10), "000 make_model_3", 3),
    "cifar10-deep-cnn-l1l2": (conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64)
                              + dense(5 * 5 * 64, 256) + dense(256, 153) + dense(153, 10), "000 make_model_4", 3),
    # 001 original.py at 224: 222→111→109→54→52→26→24→12→10→8; Dense 516, 256, 3
    "catdoghorse-original-fromzero": (conv(3, 3, 16) + conv(3, 16, 32) + conv(3, 32, 64) + 3 * conv(3, 64, 64)
                                      + dense(8 * 8 * 64, 516) + dense(516, 256) + dense(256, 3), "001 Original", 3),
    # 002 DenseModel: 3072 → 1024 → 256 → 64 → 10
    "cifar10-dense-baseline": (dense(3072, 1024) + dense(1024, 256) + dense(256, 64) + dense(64, 10),
                               "002 DenseModel", 3),
    # 002's source README, Round 1: Conv128 8x8 (32) → pool 4 (8) → Conv256 4x4 → pool 2 (4) → Conv512 2x2 → 4·4·512
    "cifar10-cnn-color": (conv(8, 3, 128) + conv(4, 128, 256) + conv(2, 256, 512) + dense(4 * 4 * 512, 256)
                          + dense(256, 64) + dense(64, 10), "002 CNN カラー", 3),
    "cifar10-cnn-gray": (conv(8, 1, 128) + conv(4, 128, 256) + conv(2, 256, 512) + dense(4 * 4 * 512, 256)
                         + dense(256, 64) + dense(64, 10), "002 CNN グレースケール", 1),
    "cifar10-resnet56-augment": (resnet56_keras_v1(), "002 全部乗せ ResNet-56", 3),
    # 003: 784·512+512 + 512·512+512 + 512·10+10, the note's own summary (Total params: 669706)
    "mnist-mlp-earlystop": (669_706, "003 build_multilayer_perceptron", 1),
    # 004 Section1/2: MultiLayerNet(784, [40, 20], 10)
    **{name: (dense(784, 40) + dense(40, 20) + dense(20, 10), "004 MultiLayerNet [40, 20]", 1)
       for name in ("mnist-sigmoid-vanishing", "mnist-relu", "mnist-sgd", "mnist-momentum", "mnist-adam")},
    # 004 Section3: MultiLayerNet(784, [100]*6, 10)
    **{name: (dense(784, 100) + 5 * dense(100, 100) + dense(100, 10), "004 MultiLayerNet [100]*6", 1)
       for name in ("mnist-overfit-300", "mnist-overfit-300-l2", "mnist-overfit-300-l1")},
    # 004 Section6 create_model: Conv32 same (32) → Conv32 (30) → pool 15 → Dense 512 → Dense 10
    **{name: (conv(3, 3, 32) + conv(3, 32, 32) + dense(15 * 15 * 32, 512) + dense(512, 10), "004 create_model", 3)
       for name in ("cifar10-small-vgg", "cifar10-small-vgg-l2", "cifar10-small-vgg-l1")},
}
STUDY = sorted(p.name for p in list_presets() if read_meta(p.path).get("source"))
TRANSFER = ["catdoghorse-resnet-fromzero", "catdoghorse-resnet-finetune", "catdoghorse-resnet-transfer",
            "catdoghorse-efficientnet-fromzero", "catdoghorse-efficientnet-finetune",
            "catdoghorse-efficientnet-transfer"]


def test_every_study_preset_names_its_note_and_published_figure():
    assert set(STUDY) == set(NOTE_MODELS) | set(TRANSFER)
    seeds = {"000", "001", "002", "003", "004"}
    for name in STUDY:
        meta = read_meta(resolve(name))
        assert meta["source"][:3] in seeds and ".txt" in meta["source"], name
        assert meta["expected"].startswith("published"), name


@pytest.mark.parametrize("name", sorted(NOTE_MODELS))
def test_study_preset_builds_the_notes_network_with_its_parameter_count(name):
    expected, where, channels = NOTE_MODELS[name]
    config = cfg.load(resolve(name))
    shape = datasets.known_shape(config.dataset)
    if shape is None:  # an image folder: the preset's image size, three classes
        shape = ((config.dataset.image_size, config.dataset.image_size, channels), 3)
    assert shape[0][2] == channels
    model = build_model(config, *shape)
    assert model.count_params() == expected, f"{name} should be the note's {where}"


def test_the_weight_decay_presets_leave_the_output_layer_as_the_notes_loop_does():
    for name in ("mnist-overfit-300-l2", "mnist-overfit-300-l1"):
        model = build_model(cfg.load(resolve(name)), (28, 28, 1), 10)
        assert not model.get_layer("classes").trainable
        assert model.get_layer("classes").kernel_regularizer is None
        hidden = [layer for layer in model.layers if layer.name.startswith("dense")]
        assert len(hidden) == 6 and all(layer.kernel_regularizer is not None for layer in hidden)


def test_the_transfer_modes_are_refused_clearly_without_imagenet_weights_and_from_zero_builds():
    from models import ArchitectureError

    for name in TRANSFER:
        config = cfg.load(resolve(name)).with_values({"dataset.image_size": 32})  # small: only the wiring matters
        try:
            model = build_model(config, (32, 32, 3), 3)
        except ArchitectureError as exc:
            assert config.arch_params()["mode"] != "fromzero"
            assert "ImageNet weights" in str(exc) and "model.mode = fromzero" in str(exc)
        else:
            assert model.output_shape == (None, 3)


# -- the quick ones against their published figures (MNIST, seconds each) ------------------------------------------

def train(name: str, tmp_path: Path, **values) -> dict:
    from tui.core.session import TrainingSession

    config = cfg.load(resolve(name)).with_values({"dataset.data_dir": str(SHARED_DATA), **values})
    session = TrainingSession(config, runs_dir=tmp_path / name)
    session.run()
    return json.loads((session.run_dir / "summary.json").read_text())


@needs_shared
def test_note_004_sigmoid_with_small_init_barely_learns_where_relu_does(tmp_path):
    sigmoid = train("mnist-sigmoid-vanishing", tmp_path)["test"]["accuracy"]
    relu = train("mnist-relu", tmp_path)["test"]["accuracy"]
    assert sigmoid < 0.25 and relu > 0.85, (sigmoid, relu)


@needs_shared
def test_note_004_adam_learns_the_sigmoid_net_where_momentum_and_plain_sgd_do_not_yet(tmp_path):
    acc = {name: train(name, tmp_path)["test"]["accuracy"] for name in ("mnist-sgd", "mnist-momentum", "mnist-adam")}
    assert acc["mnist-adam"] > 0.9 and acc["mnist-momentum"] < 0.5 and acc["mnist-sgd"] < 0.5, acc


@needs_shared
def test_note_003_early_stopping_with_patience_0_ends_the_mlp_after_a_few_epochs(tmp_path):
    summary = train("mnist-mlp-earlystop", tmp_path)
    assert summary["params"]["total"] == 669_706
    assert summary["epochs_run"] <= 10 and summary["test"]["accuracy"] > 0.97, summary["epochs_run"]


def test_a_run_with_an_activity_penalty_on_the_hidden_dense_layer_finishes(tmp_path):
    """cifar10-small-vgg-l2's set-up (activity L2 on the hidden Dense layer only) on the embedded digits: the epoch
    logs still get the kernel penalty columns, and the activity penalty does not fail the run."""
    from tui.core.session import TrainingSession

    config = cfg.ExperimentConfig().with_values({
        "model.architecture": "vgg_small", "model.filters": 4, "model.dense_units": 8,
        "regularization.activity_l2": 0.01, "regularization.l2": 0.001, "regularization.apply_to": "hidden_dense",
        "training.epochs": 1, "training.gradient_every": 0})
    model = build_model(config, (8, 8, 1), 10)
    penalised = [layer for layer in model.layers if getattr(layer, "activity_regularizer", None)]
    assert [type(layer).__name__ for layer in penalised] == ["Dense"]  # the hidden Dense only, not the output
    assert penalised[0].units == 8  # model.dense_units: the hidden layer, not the 10-class output
    session = TrainingSession(config, runs_dir=tmp_path)
    result = session.run()
    assert result.status == "finished", result.error
    assert session.history[-1]["penalty"] > 0
