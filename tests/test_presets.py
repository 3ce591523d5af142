"""Every preset loads, validates and builds its model (the long ones are not trained here)."""

import pytest

from models import ArchitectureError, build_model, check_model
from tui.core import config as cfg
from tui.core import datasets
from tui.core.presets import list_presets

PRESETS = list_presets()


def test_there_are_presets_with_descriptions_and_expected_figures():
    names = {p.name for p in PRESETS}
    assert {"default", "fashion-mnist-cnn", "mnist-mlp-earlystop", "cifar10-deep-cnn", "mnist-overfit-300",
            "catdoghorse-resnet-transfer"} <= names
    for p in PRESETS:
        assert p.description and p.expected, p.name


@pytest.mark.parametrize("preset", PRESETS, ids=[p.name for p in PRESETS])
def test_preset_loads_and_builds_its_model(preset):
    config = cfg.load(preset.path)
    shape = datasets.known_shape(config.dataset) or (
        (config.dataset.image_size, config.dataset.image_size, 1 if config.dataset.grayscale else 3), 3)
    assert check_model(config, *shape) is None
    try:
        model = build_model(config, *shape)
    except ArchitectureError as exc:  # ImageNet weights cannot be downloaded here
        assert config.arch_params().get("mode") in ("transfer", "fine_tune") and "fromzero" in str(exc)
        return
    assert model.output_shape == (None, shape[1])
    if preset.name == "mnist-mlp-earlystop":
        assert model.count_params() == 669_706
