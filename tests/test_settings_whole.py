"""Settings are applied as a whole: every --set, the preset and the forms first, then one validation, so the
order in which a person types dependent options never matters (issue 15)."""

import itertools

import pytest

from tui.core import config as cfg
from tui.core import presets
from tui.core.params import ConfigError

FOLDER = cfg.ExperimentConfig().with_values({"dataset.name": "folder", "dataset.path": "images"})

DEPENDENT = [
    # (base, the options, what the result must hold)
    (cfg.ExperimentConfig(), ["dataset.name=folder", "dataset.path=images"],
     {"dataset.name": "folder", "dataset.path": "images"}),
    (cfg.ExperimentConfig(), ["model.architecture=mlp", "model.hidden_units=64,32"],
     {"model.architecture": "mlp", "model.hidden_units": (64, 32)}),
    (cfg.ExperimentConfig(), ["model.architecture=transfer", "model.backbone=resnet50"],
     {"model.architecture": "transfer", "model.backbone": "resnet50"}),
    (FOLDER, ["dataset.val_fraction=0.85", "dataset.test_fraction=0.05"],
     {"dataset.val_fraction": 0.85, "dataset.test_fraction": 0.05}),
    (cfg.ExperimentConfig(), ["dataset.name=folder", "dataset.path=images", "dataset.test_fraction=0.5",
                              "dataset.val_fraction=0.4"],
     {"dataset.test_fraction": 0.5, "dataset.val_fraction": 0.4}),
]


@pytest.mark.parametrize("base, options, expected", DEPENDENT, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else "")
def test_dependent_options_work_in_every_order(base, options, expected):
    for order in itertools.permutations(options):
        config = cfg.apply_overrides(base, list(order))
        assert {key: config.get(key) for key in expected} == expected, order


@pytest.mark.parametrize("order", [0, 1])
def test_a_preset_completed_by_set_is_checked_after_the_set(tmp_path, order):
    preset = tmp_path / "my-folder.toml"
    preset.write_text('[dataset]\nname = "folder"\n')  # the path comes from the command line
    options = ["dataset.path=images", "training.epochs=2"][:: 1 if order else -1]
    config = presets.load_experiment(str(preset), options)
    assert (config.dataset.name, config.dataset.path, config.training.epochs) == ("folder", "images", 2)


def test_the_whole_is_still_checked_and_the_message_names_the_key_and_the_fix(tmp_path):
    with pytest.raises(ConfigError) as info:
        presets.load_experiment(None, ["training.epochs=2", "dataset.name=folder"])
    assert info.value.key == "dataset.path"
    assert "an image folder is needed when dataset.name = folder" in str(info.value)
    preset = tmp_path / "my-folder.toml"
    preset.write_text('[dataset]\nname = "folder"\n')
    with pytest.raises(ConfigError, match="my-folder.toml: dataset.path: an image folder is needed"):
        presets.load_experiment(str(preset))
    with pytest.raises(ConfigError, match="dataset.test_fraction: validation and test fractions leave no"):
        cfg.apply_overrides(FOLDER, ["dataset.test_fraction=0.5", "dataset.val_fraction=0.5"])


def test_the_last_of_two_options_for_one_key_wins():
    assert cfg.apply_overrides(cfg.ExperimentConfig(), ["training.epochs=3", "training.epochs=4"]).training.epochs == 4


@pytest.mark.parametrize("path_first", [False, True])
async def test_the_forms_take_dependent_fields_in_either_order(tmp_path, path_first):
    from textual.widgets import Input, Select

    from pilot_wait import forms_built, until
    from tui.ui.app import CnnTuiApp

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await forms_built(pilot)
        name = screen.query_one("#field-dataset-name Select", Select)
        await until(pilot, lambda: bool(screen.query("#field-dataset-path Input")))
        path = screen.query_one("#field-dataset-path Input", Input)
        steps = [lambda: setattr(name, "value", "folder"), lambda: setattr(path, "value", str(tmp_path))]
        for step in (reversed(steps) if path_first else steps):
            step()
            await pilot.pause()
        await until(pilot, lambda: screen.config.dataset.name == "folder"
                    and screen.config.dataset.path == str(tmp_path),
                    state=lambda: (screen.config.dataset.name, screen.config.dataset.path, screen.values,
                                   screen.errors, name.value, path.value))
        assert not any("dataset.path" in key for key in screen.errors)
