"""The architectures in models/: what a user can expect from each one on each dataset shape."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import models
from models import ARCHITECTURES, ArchitectureError, build_model, check_model
from tui.core.config import ExperimentConfig

keras = pytest.importorskip("keras")

# (input shape, number of classes) of each kind of dataset cnn-tui trains on
SHAPES = {
    "digits": ((8, 8, 1), 10),
    "mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "folder": ((64, 64, 3), 3),
}
# Settings that keep each architecture small enough for a quick test; everything else is the default.
FAST = {
    "transfer": {"model.mode": "fromzero", "model.backbone": "mobilenetv2", "model.input_size": 32},
}


def config(arch: str, **values: Any) -> ExperimentConfig:
    return ExperimentConfig().with_values({"model.architecture": arch, **FAST.get(arch, {}), **values})


def uint8_batch(shape: tuple[int, ...], n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def layer_types(model: Any) -> list[str]:
    out = []
    for layer in model.layers:
        out.append(type(layer).__name__)
        if isinstance(layer, keras.Model):
            out.extend(layer_types(layer))
    return out


def test_every_architecture_is_registered_with_a_description_and_check() -> None:
    assert set(ARCHITECTURES) == {"mlp", "simple_cnn", "deep_cnn", "vgg_small", "lenet", "alexnet_small",
                                  "resnet", "transfer", "conv_stack"}
    for arch in ARCHITECTURES.values():
        assert arch.description and "\n" not in arch.description
        assert all(p.name for p in arch.params)


@pytest.mark.parametrize("dataset", list(SHAPES))
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_architecture_builds_for_each_dataset_and_outputs_probabilities(arch: str, dataset: str) -> None:
    shape, classes = SHAPES[dataset]
    cfg = config(arch)
    reason = check_model(cfg, shape, classes)
    if reason:  # refusing is allowed, but only with a reason a person can act on
        assert len(reason) > 20
        with pytest.raises(ArchitectureError, match="."):
            build_model(cfg, shape, classes)
        return
    model = build_model(cfg, shape, classes)
    assert model.output_shape == (None, classes)
    assert "Lambda" not in layer_types(model)
    probs = np.asarray(model(uint8_batch(shape), training=False))
    assert probs.shape == (2, classes)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_every_architecture_but_transfer_works_for_every_dataset_shape() -> None:
    """Small images are resized up where an architecture needs it, so only transfer ever refuses."""
    for name in ARCHITECTURES:
        if name == "transfer":
            continue
        for shape, classes in SHAPES.values():
            assert check_model(config(name), shape, classes) is None, (name, shape)


def test_check_is_pure_python() -> None:
    """check() is used by the forms to explain choices before any TensorFlow is loaded."""
    import ast
    import inspect

    for arch in ARCHITECTURES.values():
        source = inspect.getsource(arch.module.check)
        names = {n.id for n in ast.walk(ast.parse(source.strip())) if isinstance(n, ast.Name)}
        assert "keras" not in names and "tf" not in names, arch.name


# --- sizes a user can compare with the literature --------------------------------------------------------------


def test_mlp_784_512_512_10_has_669706_parameters() -> None:
    model = build_model(config("mlp", **{"model.hidden_units": [512, 512]}), (28, 28, 1), 10)
    assert model.count_params() == 669_706  # 784·512+512 + 512·512+512 + 512·10+10


def test_resnet20_has_about_0_27m_parameters() -> None:
    model = build_model(config("resnet", **{"model.depth": 20}), (32, 32, 3), 10)
    # 272k for the paper's identity shortcuts, plus the two 1x1 projection shortcuts and their batch norms
    assert model.count_params() == 274_042
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)]
    assert len(convs) == 19  # 6n+1 3x3 convolutions + the classifier = 20 weighted layers
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling2D) for layer in model.layers)


def test_resnet_depth_grows_by_six_layers_per_block() -> None:
    sizes = [build_model(config("resnet", **{"model.depth": d}), (8, 8, 1), 10).count_params() for d in (20, 32)]
    assert sizes == [273_754, 469_082]


def test_resnet_refuses_a_depth_that_is_not_6n_plus_2() -> None:
    cfg = config("resnet", **{"model.depth": 21})
    reason = check_model(cfg, (32, 32, 3), 10)
    assert reason and "21" in reason
    for depth in ("20", "32", "44", "56", "110"):
        assert depth in reason
    with pytest.raises(ArchitectureError, match="6n"):
        build_model(cfg, (32, 32, 3), 10)


def test_resnet_always_uses_batch_norm_and_weight_decay() -> None:
    model = build_model(config("resnet"), (8, 8, 1), 10)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(isinstance(c.kernel_regularizer, keras.regularizers.L2) for c in convs)
    assert convs[0].kernel_regularizer.l2 == pytest.approx(1e-4)
    off = build_model(config("resnet", **{"model.weight_l2": 0.0}), (8, 8, 1), 10)
    assert all(layer.kernel_regularizer is None for layer in off.layers if isinstance(layer, keras.layers.Conv2D))
    configured = build_model(config("resnet", **{"regularization.l2": 5e-4}), (8, 8, 1), 10)
    conv = next(layer for layer in configured.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.kernel_regularizer.l2 == pytest.approx(5e-4)


def test_deep_cnn_second_dense_layer_has_60_percent_of_the_units() -> None:
    model = build_model(config("deep_cnn", **{"model.dense_units": 256}), (32, 32, 3), 10)
    units = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert units == [256, 153, 10]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert [c.padding for c in convs] == ["same", "valid", "same", "valid"]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2  # conv_dropout 0.2 twice


def test_lenet_has_the_classic_layer_sizes() -> None:
    model = build_model(config("lenet"), (28, 28, 1), 10)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [120, 84, 10]
    assert model.count_params() == 61_706  # LeNet-5 on 28x28 MNIST with 'same' padding first
    assert any(isinstance(layer, keras.layers.AveragePooling2D) for layer in model.layers)
    small = build_model(config("lenet", **{"model.pool": "max"}), (8, 8, 1), 10)
    assert any(isinstance(layer, keras.layers.Resizing) for layer in small.layers)  # 8x8 digits → 28x28
    assert any(isinstance(layer, keras.layers.MaxPooling2D) for layer in small.layers)


# --- the shared configuration knobs ------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["deep_cnn", "vgg_small", "alexnet_small", "lenet"])
def test_batch_norm_adds_batch_normalization_layers(arch: str) -> None:
    plain = build_model(config(arch), (28, 28, 1), 10)
    normed = build_model(config(arch, **{"model.batch_norm": True}), (28, 28, 1), 10)
    assert "BatchNormalization" not in layer_types(plain)
    assert "BatchNormalization" in layer_types(normed)


def test_l2_regularization_adds_kernel_regularizers() -> None:
    plain = build_model(config("vgg_small"), (8, 8, 1), 10)
    reg = build_model(config("vgg_small", **{"regularization.l2": 1e-3}), (8, 8, 1), 10)
    kernels = [layer for layer in reg.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert all(isinstance(layer.kernel_regularizer, keras.regularizers.L2) for layer in kernels)
    assert all(getattr(layer, "kernel_regularizer", None) is None for layer in plain.layers)


def test_augmentation_adds_random_preprocessing_layers() -> None:
    model = build_model(config("deep_cnn", **{"regularization.augment": True}), (32, 32, 3), 10)
    types = layer_types(model)
    assert "RandomFlip" in types and "RandomRotation" in types and "RandomTranslation" in types
    assert "RandomFlip" not in layer_types(build_model(config("deep_cnn"), (32, 32, 3), 10))


def test_configured_activation_is_used() -> None:
    model = build_model(config("resnet", **{"model.activation": "elu", "model.depth": 8}), (8, 8, 1), 10)
    acts = {layer.get_config()["activation"] for layer in model.layers if isinstance(layer, keras.layers.Activation)}
    assert acts == {"elu"}


# --- transfer learning --------------------------------------------------------------------------------------------


def test_transfer_refuses_tiny_images_without_resizing() -> None:
    cfg = config("transfer", **{"model.input_size": 0})
    reason = check_model(cfg, (8, 8, 1), 10)
    assert reason and "32" in reason and "8x8" in reason and "model.input_size" in reason
    with pytest.raises(ArchitectureError, match="32"):
        build_model(cfg, (8, 8, 1), 10)
    assert check_model(cfg, (32, 32, 3), 10) is None


def test_transfer_expands_grayscale_to_three_channels_without_lambda() -> None:
    model = build_model(config("transfer"), (28, 28, 1), 10)
    types = layer_types(model)
    assert "Concatenate" in types and "Lambda" not in types
    assert model.get_layer("resize").get_config()["height"] == 32


def test_transfer_without_cached_weights_explains_how_to_go_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The build never downloads (the session does, with progress, before it): without the file it says what to do."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    cfg = config("transfer", **{"model.mode": "transfer"})
    with pytest.raises(ArchitectureError) as info:
        build_model(cfg, (32, 32, 3), 10)
    message = str(info.value)
    assert "fromzero" in message and "MobileNetV2" in message and "model.weights_file" in message


@pytest.fixture
def random_imagenet_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for ImageNet weights (no internet here): the backbone is built with random weights."""
    from models import weights

    monkeypatch.setattr(weights, "backbone_weights", lambda params, side: None)


def _backbone(model: Any) -> Any:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_transfer_mode_freezes_the_whole_backbone(random_imagenet_weights: None) -> None:
    model = build_model(config("transfer", **{"model.mode": "transfer"}), (32, 32, 3), 10)
    assert not _backbone(model).trainable
    assert [w.shape for w in model.trainable_weights] == [(1280, 10), (10,)]  # only the classifier learns


def test_fine_tune_trains_only_the_top_layers_and_keeps_batch_norm_frozen(random_imagenet_weights: None) -> None:
    model = build_model(config("transfer", **{"model.mode": "fine_tune", "model.fine_tune_layers": 10}),
                        (32, 32, 3), 10)
    layers = _backbone(model).layers
    trainable = [i for i, layer in enumerate(layers) if layer.trainable and layer.weights]
    assert trainable and min(trainable) >= len(layers) - 10
    assert not any(layer.trainable for layer in layers if isinstance(layer, keras.layers.BatchNormalization))
    frozen = build_model(config("transfer", **{"model.mode": "fine_tune", "model.fine_tune_layers": 0}),
                         (32, 32, 3), 10)
    assert len(frozen.trainable_weights) == 2


# --- saving -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["deep_cnn", "resnet"])
def test_model_saves_and_loads_in_safe_mode(arch: str, tmp_path: Path) -> None:
    shape = (8, 8, 1)
    extra = {"model.depth": 8} if arch == "resnet" else {}
    model = build_model(config(arch, **extra, **{"regularization.augment": True}), shape, 10)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = uint8_batch(shape)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)),
                               rtol=1e-5, atol=1e-6)


def test_models_package_imports_without_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys, models; from tui.core.config import ExperimentConfig as C; "
            "c = C().with_values({'model.architecture': 'resnet'}); models.check_model(c, (8, 8, 1), 10); "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(models.__file__).parent.parent)
    assert out.stdout.split() == ["False", "False"]
