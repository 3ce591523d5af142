"""The experiment configuration: what a preset, --set and the forms may say, and what they are told when wrong."""

import pytest

from tui.core import config as cfg
from tui.core.params import ConfigError

REQUIRED_KEYS = [
    "dataset.name", "dataset.path", "dataset.train_size", "dataset.val_fraction", "dataset.grayscale",
    "model.architecture", "model.activation", "model.kernel_initializer", "model.init_std", "model.dropout",
    "model.batch_norm", "optimizer.name", "optimizer.learning_rate", "schedule.name", "regularization.l1",
    "regularization.l2", "regularization.augment", "training.epochs", "training.batch_size", "training.loss",
    "training.early_stopping", "training.seed",
]


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        cfg.loads(text, "exp.toml")
    return info.value


def test_every_public_key_exists_and_is_documented_in_the_reference_table():
    table = cfg.reference_table()
    config = cfg.ExperimentConfig()
    for key in REQUIRED_KEYS:
        config.get(key)  # raises if missing
        assert f"`{key}`" in table


def test_toml_round_trip_keeps_every_value():
    original = cfg.ExperimentConfig().with_values({
        "model.architecture": "mlp", "model.hidden_units": [1024, 256, 64], "model.activation": "tanh",
        "optimizer.name": "nesterov", "optimizer.learning_rate": 0.05, "schedule.name": "exponential",
        "schedule.hold_epochs": 10, "regularization.l2": 1e-4, "regularization.augment": True,
        "training.early_stopping": True, "dataset.name": "fashion_mnist", "dataset.train_size": 300,
    })
    text = cfg.dumps(original, meta={"description": "round trip"})
    again = cfg.loads(text)
    assert again == original
    assert again.arch_params()["hidden_units"] == (1024, 256, 64)
    assert cfg.dumps(again, meta={"description": "round trip"}) == text


def test_saved_file_loads_back(tmp_path):
    path = cfg.save(cfg.ExperimentConfig().with_values({"training.epochs": 3}), tmp_path / "c.toml")
    assert cfg.load(path).training.epochs == 3


@pytest.mark.parametrize("text, key, words", [
    ("[training]\nepochs = 0\n", "training.epochs", "out of range"),
    ("[optimizer]\nlearning_rate = -0.1\n", "optimizer.learning_rate", "> 0"),
    ("[model]\ndropout = 1.0\n", "model.dropout", "< 1"),
    ("[training]\nbatch_size = \"big\"\n", "training.batch_size", "an integer"),
    ("[training]\nearly_stopping = 1\n", "training.early_stopping", "true or false"),
    ("[model]\nactivation = \"relux\"\n", "model.activation", "one of relu, sigmoid"),
    ("[model]\nconv_filterz = 3\n", "model.conv_filterz", "unknown key"),
    ("[trainig]\nepochs = 3\n", "trainig", "unknown section"),
    ("[dataset]\nname = \"folder\"\n", "dataset.path", "image folder"),
    ("[model]\narchitecture = \"mlp\"\nhidden_units = [0]\n", "model.hidden_units", "positive integers"),
])
def test_invalid_values_are_refused_naming_file_key_and_what_is_allowed(text, key, words):
    err = error_for(text)
    assert err.key == key
    message = str(err)
    assert message.startswith("exp.toml: " + key)
    assert words in message


def test_architecture_parameters_belong_to_their_architecture():
    # dense_units is a simple_cnn key; hidden_units only exists for the MLP.
    err = error_for("[model]\narchitecture = \"simple_cnn\"\nhidden_units = [10]\n")
    assert "unknown key for architecture 'simple_cnn'" in str(err)
    assert "conv_filters" in str(err)


def test_not_toml_is_refused_with_the_file_name():
    assert "not valid TOML" in str(error_for("[training\nepochs = 3"))


def test_set_overrides_parse_like_a_person_types_them():
    base = cfg.ExperimentConfig()
    c = cfg.apply_overrides(base, ["training.epochs=5", "optimizer.name=sgd", "optimizer.learning_rate=1e-2",
                                   "model.architecture=mlp", "model.hidden_units=64,32",
                                   "training.early_stopping=true"])
    assert (c.training.epochs, c.optimizer.name, c.optimizer.learning_rate) == (5, "sgd", 0.01)
    assert c.arch_params()["hidden_units"] == (64, 32)
    assert c.training.early_stopping is True
    with pytest.raises(ConfigError, match="training.epochs"):
        cfg.apply_overrides(base, ["training.epochs=-1"])
    with pytest.raises(ConfigError, match="section.key=value"):
        cfg.apply_overrides(base, ["epochs"])


def test_switching_architecture_drops_the_old_architectures_keys():
    c = cfg.ExperimentConfig().with_values({"model.architecture": "mlp"})
    assert set(c.model.params) == {"hidden_units", "freeze_output"}  # the MLP's own keys only


# -- writing a value back as text: the inverse of parsing it ---------------------------------------------------------

def _every_param():
    """(key, Param) of every configuration key: each section's own, and every architecture's parameters."""
    from models import ARCHITECTURES

    for section in cfg.SECTIONS:
        for p in cfg.section_params(section):
            yield f"{section}.{p.name}", p
    for arch in ARCHITECTURES.values():
        for p in arch.params:
            yield f"model.{p.name} ({arch.name})", p


EVERY_PARAM = list(_every_param())


def _values_of(p):
    """Values a person could give `p` (hypothesis strategies; refused ones are filtered out by validate)."""
    from hypothesis import strategies as st

    if p.choices:
        return st.sampled_from(p.choices)
    if p.kind is bool:
        return st.booleans()
    if p.kind is tuple:
        return st.lists(st.integers(1, 65536), min_size=1, max_size=8).map(tuple)
    if p.kind is int:
        return st.integers(-2**62, 2**62)
    if p.kind is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                         st.floats(p.minimum if p.minimum is not None else -1e6,
                                   p.maximum if p.maximum is not None else 1e6))
    return st.text()


@pytest.mark.parametrize("key, param", EVERY_PARAM, ids=[k for k, _ in EVERY_PARAM])
def test_every_key_reads_back_what_it_writes(key, param):
    """What a form field shows for a value parses back to that very value: parse_text(format_text(v)) == v."""
    from hypothesis import given, settings

    @settings(max_examples=60, deadline=None)
    @given(_values_of(param))
    def reads_back(raw):
        try:
            value = param.validate(raw, key)
        except ConfigError:
            return  # not a value of this key
        text = param.format_text(value)
        assert param.parse_text(text, key) == value, (value, text)

    reads_back()


def test_values_are_written_one_way_everywhere():
    """The CLI, the app and the exports write a value alike: its shortest exact form, true/false, [a, b]."""
    from tui.core.params import format_value

    assert [format_value(v) for v in (0.001, 1e-7, 5.0, 0.0012345678, True, (512, 256), "adam", 3)] == [
        "0.001", "1e-07", "5", "0.0012345678", "true", "[512, 256]", "adam", "3"]
    assert format_value(0.00031622776, digits=3) == "0.000316"
    lr = cfg.param_for("optimizer.learning_rate")
    assert lr.format_text(0.0012345678) == "0.0012345678"  # the form shows the value that will be used
    assert cfg.param_for("model.hidden_units", "mlp").format_text((512, 256)) == "512, 256"
    assert cfg.param_for("dataset.path").format_text(" data ") == '" data "'


def test_times_left_are_written_one_way_in_the_training_screen_and_the_sweep():
    from tui.core.heatmap import format_eta
    from tui.core.records import format_clock

    assert [format_clock(s) for s in (0, 65.9, 3665, None)] == ["0:00", "1:05", "1:01:05", "–"]
    assert format_eta(65.9) == format_clock(65.9) and format_eta(None) == "estimating…"
