"""The experiment configuration: one typed, validated object, read from and written to TOML.

Key names (``section.key``) are a public contract shared by presets, ``--set`` overrides, the forms and the
exported ``config.toml``; :func:`reference_table` renders them for the README.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from models import ARCHITECTURES
from tui.core.params import ConfigError, Param, format_value

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "folder")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "swish")
INITIALIZERS = ("he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "normal", "he_normal_untruncated")
OPTIMIZERS = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adadelta", "nadam", "adamw",
)
SCHEDULES = ("constant", "exponential", "step", "cosine", "plateau", "one_cycle")
LOSSES = (
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "categorical_focal_crossentropy", "kl_divergence", "mean_squared_error",
)
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
OUTPUT_ACTIVATIONS = ("auto", "softmax", "sigmoid")
CLASS_WEIGHTS = ("none", "balanced")
APPLY_TO = ("all", "dense", "conv", "hidden_dense")


def _setting(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field carrying its validation rules; name and type come from the annotation."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class DatasetConfig:
    name: str = _setting("digits", "which dataset: the embedded digits, a Keras dataset, or an image folder",
                         choices=DATASETS)
    path: str = _setting("", "image folder with one sub-folder per class (dataset.name = folder)")
    data_dir: str = _setting("", "local data directory searched before any download (also $CNN_TUI_DATA_DIR)")
    train_size: int = _setting(0, "use only this many training samples (0 = all)", minimum=0)
    val_fraction: float = _setting(0.1, "fraction of the training data held out for validation",
                                   minimum=0.0, maximum=0.9, min_exclusive=True)
    test_fraction: float = _setting(0.1, "fraction held out for test when the dataset has no test split",
                                    minimum=0.0, maximum=0.9)
    grayscale: bool = _setting(False, "convert images to one channel")
    rescale: bool = _setting(True, "scale pixels from 0–255 to [0, 1] in the model's first layer (false feeds raw "
                             "pixels: the unscaled-input mistake)")
    image_size: int = _setting(64, "side in pixels that folder images are resized to", minimum=8, maximum=1024)
    seed: int = _setting(42, "seed for subsetting and splitting", minimum=0)


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = _setting("simple_cnn", "network architecture from models/", choices=tuple(ARCHITECTURES))
    activation: str = _setting("relu", "hidden-layer activation", choices=ACTIVATIONS)
    kernel_initializer: str = _setting("glorot_uniform", "weight initializer (normal uses model.init_std; "
                                       "he_normal_untruncated is N(0, 2/fan_in) in every layer, the output too, as "
                                       "NumPy-from-scratch courses draw it)",
                                       choices=INITIALIZERS)
    init_std: float = _setting(0.05, "standard deviation of the plain normal initializer",
                               minimum=0.0, maximum=10.0, min_exclusive=True)
    dropout: float = _setting(0.0, "dropout rate in the dense part", minimum=0.0, maximum=1.0, max_exclusive=True)
    batch_norm: bool = _setting(False, "batch normalization after each conv/dense layer")
    output_activation: str = _setting("auto", "output layer: auto (softmax, sigmoid with binary cross-entropy), or "
                                      "force softmax / sigmoid", choices=OUTPUT_ACTIVATIONS)
    params: Mapping[str, Any] = field(default_factory=dict)
    """The architecture's own parameters (``model.<name>`` keys), validated against models/."""

    def __post_init__(self) -> None:
        arch = ARCHITECTURES.get(self.architecture)
        if arch is not None:  # fill the architecture's defaults so equal configs compare equal
            filled = {p.name: self.params.get(p.name, p.default) for p in arch.params}
            object.__setattr__(self, "params", filled)


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = _setting("adam", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = _setting(0.001, "initial learning rate", minimum=0.0, maximum=100.0, min_exclusive=True)
    momentum: float = _setting(0.9, "momentum for momentum, nesterov and rmsprop", minimum=0.0, maximum=1.0,
                               max_exclusive=True)
    weight_decay: float = _setting(0.0, "decoupled weight decay (adamw, and others that support it)",
                                   minimum=0.0, maximum=1.0)
    clipnorm: float = _setting(0.0, "clip each gradient to this norm (0 = off)", minimum=0.0)
    rho: float = _setting(0.95, "decay of adadelta / rmsprop averages", minimum=0.0, maximum=1.0,
                          max_exclusive=True)
    epsilon: float = _setting(1e-7, "fuzz factor of the adaptive optimizers (Keras 3's 1e-7; Keras 1 and 2.0 used "
                              "1e-8)", minimum=0.0, maximum=1.0, min_exclusive=True)


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = _setting("constant", "learning-rate schedule", choices=SCHEDULES)
    hold_epochs: int = _setting(0, "epochs at the initial rate before exponential/step decay starts", minimum=0)
    decay_rate: float = _setting(0.1, "exponential: lr × e^(−rate) per epoch after the hold", minimum=0.0,
                                 maximum=10.0)
    step_epochs: int = _setting(10, "step: multiply lr by step_factor every this many epochs", minimum=1)
    step_factor: float = _setting(0.5, "step / plateau: factor applied to lr", minimum=0.0, maximum=1.0,
                                  min_exclusive=True, max_exclusive=True)
    min_lr: float = _setting(0.0, "floor for the learning rate", minimum=0.0)
    patience: int = _setting(3, "plateau: epochs without val_loss improvement before lr is reduced", minimum=1)
    warmup_fraction: float = _setting(0.3, "one_cycle: share of the training steps spent warming up to the peak rate "
                                      "(optimizer.learning_rate is the peak)", minimum=0.0, maximum=1.0,
                                      min_exclusive=True, max_exclusive=True)
    div_factor: float = _setting(25.0, "one_cycle: the cycle starts at peak ÷ div_factor", minimum=1.0)
    final_div: float = _setting(1e4, "one_cycle: it ends at start ÷ final_div", minimum=1.0)
    min_momentum: float = _setting(0.85, "one_cycle: momentum (or Adam's beta_1) falls from the optimizer's own value "
                                   "to this at the peak rate, then rises back", minimum=0.0, maximum=1.0,
                                   max_exclusive=True)


@dataclass(frozen=True)
class RegularizationConfig:
    l1: float = _setting(0.0, "kernel L1 strength (L1 and L2 together = L1L2)", minimum=0.0, maximum=10.0)
    l2: float = _setting(0.0, "kernel L2 strength", minimum=0.0, maximum=10.0)
    activity_l2: float = _setting(0.0, "activity (output) L2 strength", minimum=0.0, maximum=10.0)
    activity_l1: float = _setting(0.0, "activity (output) L1 strength", minimum=0.0, maximum=10.0)
    apply_to: str = _setting("all", "which layers get the kernel and activity regularizers (dense includes the output "
                             "layer's kernel; hidden_dense is the hidden Dense layers only)", choices=APPLY_TO)
    augment: bool = _setting(False, "random augmentation with Keras preprocessing layers (training only)")
    flip: bool = _setting(True, "augment: random horizontal flips")
    rotation: float = _setting(10.0, "augment: max rotation in degrees", minimum=0.0, maximum=180.0)
    shift: float = _setting(0.1, "augment: max shift as a fraction of width/height", minimum=0.0, maximum=0.5)
    zoom: float = _setting(0.0, "augment: max zoom as a fraction", minimum=0.0, maximum=0.5)

    @property
    def penalized(self) -> bool:
        """A weight or activity penalty is part of the loss (the run then also logs data_loss: the loss without it)."""
        return bool(self.l1 or self.l2 or self.activity_l1 or self.activity_l2)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = _setting(10, "number of epochs", minimum=1, maximum=100000)
    batch_size: int = _setting(64, "samples per batch", minimum=1, maximum=65536)
    loss: str = _setting("categorical_crossentropy", "loss function", choices=LOSSES)
    early_stopping: bool = _setting(False, "stop when the monitored metric stops improving (stop on plateau)")
    monitor: str = _setting("val_loss", "early stopping / best checkpoint: metric watched", choices=MONITORS)
    patience: int = _setting(5, "early stopping: epochs without improvement before stopping", minimum=0)
    min_delta: float = _setting(0.0, "early stopping: smallest change that counts as improvement", minimum=0.0)
    restore_best: bool = _setting(True, "early stopping: restore the best weights at the end")
    checkpoint_every: int = _setting(0, "also save the model every N epochs (0 = only best and last)", minimum=0)
    tensorboard: bool = _setting(False, "write TensorBoard logs into the run directory")
    class_weight: str = _setting("none", "weight the loss per class: balanced = n / (classes × count), for skewed "
                                 "datasets", choices=CLASS_WEIGHTS)
    gradient_every: int = _setting(20, "gradient-flow panel: per-layer gradient norms every N batches on a fixed batch "
                                   "of 32 training samples, at most 4 times a second (0 = off)", minimum=0)
    seed: int = _setting(42, "seed for weights, shuffling and dropout (same seed, same curves on CPU)", minimum=0)
    stop_on_divergence: bool = _setting(True, "stop the run when the doctor finds it diverged (false keeps training: "
                                        "for reproducing a study whose raw-pixel first epoch has losses in the tens)")
    devices: str = _setting("auto", "devices of one run: auto (every GPU, else the CPU), cpu, or GPU indices like 0,1; "
                            "two or more train under tf.distribute.MirroredStrategy, batch_size staying the global "
                            "batch")
    mixed_precision: bool = _setting(False, "mixed_float16 compute (float32 output, Keras' loss scaling) on GPUs of "
                                     "compute capability ≥ 7.0; refused on the CPU")


@dataclass(frozen=True)
class ExperimentConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def judged_on(self, metric: str) -> str:
        """The logs key a callback or the doctor reads for `metric`. If the loss includes a penalty, loss and
        val_loss are read without it, as data_loss and val_data_loss. The penalty grows with the weights, so a
        model that is getting better can still show a rising loss. Example, CIFAR-10 with l1_l2(0.01): between
        epochs 4 and 69, val_loss rose from 3.4 to 5.9, val_data_loss fell from 1.6 to 1.0, and val_accuracy rose
        from 0.44 to 0.66. Judged on val_loss, the run's "best" model was epoch 4's."""
        if metric in ("loss", "val_loss") and self.regularization.penalized:
            return metric.replace("loss", "data_loss")
        return metric

    @property
    def monitored(self) -> str:
        """`judged_on(training.monitor)`: what the best checkpoint, early stopping and the doctor's plateau read."""
        return self.judged_on(self.training.monitor)

    def arch_params(self) -> dict[str, Any]:
        """The architecture's parameters with defaults filled in."""
        spec = ARCHITECTURES[self.model.architecture].params
        return {p.name: self.model.params.get(p.name, p.default) for p in spec}

    def get(self, key: str) -> Any:
        section, _, name = key.partition(".")
        if section == "model" and name in self.arch_params():
            return self.arch_params()[name]
        return getattr(getattr(self, section), name)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict with every key (architecture parameters flattened into ``model``)."""
        out: dict[str, dict[str, Any]] = {}
        for section in SECTIONS:
            sec = getattr(self, section)
            values = {f.name: _toml_value(getattr(sec, f.name)) for f in dataclasses.fields(sec) if f.name != "params"}
            if section == "model":
                values.update({k: _toml_value(v) for k, v in self.arch_params().items()})
            out[section] = values
        return out

    def with_values(self, values: Mapping[str, Any], source: str | None = None) -> "ExperimentConfig":
        """A copy with ``{"section.key": value}`` applied and validated."""
        data = self.to_dict()
        for key, value in values.items():
            section, dot, name = key.partition(".")
            if not dot or section not in SECTIONS:
                raise ConfigError(key, f"unknown key; keys look like section.name with section one of "
                                  f"{', '.join(SECTIONS)}", source)
            data[section][name] = value
        # Changing the architecture drops the old architecture's parameters.
        if "model.architecture" in values:
            old = ARCHITECTURES.get(self.model.architecture)
            new = ARCHITECTURES.get(str(values["model.architecture"]))
            if old and new and old is not new:
                keep = {p.name for p in new.params}
                for p in old.params:
                    if p.name not in keep and f"model.{p.name}" not in values:
                        data["model"].pop(p.name, None)
        return from_dict(data, source)


SECTIONS = ("dataset", "model", "optimizer", "schedule", "regularization", "training")
_SECTION_TYPES = {
    "dataset": DatasetConfig, "model": ModelConfig, "optimizer": OptimizerConfig,
    "schedule": ScheduleConfig, "regularization": RegularizationConfig, "training": TrainingConfig,
}
_KINDS = {"int": int, "float": float, "bool": bool, "str": str}
META_KEYS = ("description", "expected", "diagnosis", "source", "matrix")  # matrix: "benchmark" = run only by
# benchmarks/doctor_matrix.py (scenario presets)
"""Keys allowed in a preset's optional ``[meta]`` table (documentation, never used for training). A scenario
preset's ``diagnosis`` names the doctor finding it reproduces and by when ("overfitting by epoch 8"), or "none"."""


def _toml_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def section_params(section: str) -> tuple[Param, ...]:
    """The Params of one section's own fields (architecture parameters excluded)."""
    cls = _SECTION_TYPES[section]
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "params":
            continue
        meta = dict(f.metadata)
        help_text = meta.pop("help")
        out.append(Param(f.name, _KINDS[str(f.type)], f.default, help_text, **meta))
    return tuple(out)


def param_for(key: str, architecture: str | None = None) -> Param:
    """The Param behind ``section.key`` (``model.<x>`` may be an architecture parameter)."""
    section, _, name = key.partition(".")
    if section in _SECTION_TYPES:
        for p in section_params(section):
            if p.name == name:
                return p
        if section == "model" and architecture in ARCHITECTURES:
            for p in ARCHITECTURES[architecture].params:
                if p.name == name:
                    return p
    raise ConfigError(key, "unknown key")


def _refuse_secrets(data: Mapping[str, Any], source: str | None) -> None:
    """A webhook URL is a secret: never taken from a preset or a run's config (which are shared and exported)."""
    tables = [("", data)] + [(f"{k}.", v) for k, v in data.items() if isinstance(v, Mapping)]
    for prefix, table in tables:
        for key in table:
            if "webhook" in str(key).lower():
                raise ConfigError(f"{prefix}{key}", "a webhook URL is a secret and is not read from a preset or a "
                                  "run's configuration: put webhook_url in ~/.config/cnn-tui/settings.toml or set "
                                  "$CNN_TUI_WEBHOOK_URL", source)


def from_dict(data: Mapping[str, Any], source: str | None = None, check: bool = True) -> ExperimentConfig:
    """Validate a nested mapping (as read from TOML) into an ExperimentConfig; missing keys take defaults.

    Without `check`, each key is validated but not the rules between keys (:func:`check_consistency`): for a
    preset that `--set` options complete, checked once the whole is known."""
    if not isinstance(data, Mapping):
        raise ConfigError("", "the document must be a table of sections", source)
    _refuse_secrets(data, source)
    for section in data:
        if section == "meta":
            meta = data[section]
            if not isinstance(meta, Mapping):
                raise ConfigError("meta", "must be a table", source)
            for k, v in meta.items():
                if k not in META_KEYS or not isinstance(v, str):
                    raise ConfigError(f"meta.{k}", f"unknown or not text; [meta] allows {', '.join(META_KEYS)}",
                                      source)
            continue
        if section == "sweep":  # a sweep preset's grid: read by tui.core.sweep, ignored by a single run
            if not isinstance(data[section], Mapping):
                raise ConfigError("sweep", "must be a table like [sweep]", source)
            continue
        if section not in SECTIONS:
            raise ConfigError(str(section), f"unknown section; allowed: {', '.join(SECTIONS)} (and meta, sweep)",
                              source)
        if not isinstance(data[section], Mapping):
            raise ConfigError(str(section), "must be a table like [" + str(section) + "]", source)

    sections: dict[str, Any] = {}
    for section, cls in _SECTION_TYPES.items():
        given = dict(data.get(section, {}))
        specs = {p.name: p for p in section_params(section)}
        values: dict[str, Any] = {}
        for name, p in specs.items():
            if name in given:
                values[name] = _checked(p, given.pop(name), f"{section}.{name}", source)
        if section == "model":
            arch = ARCHITECTURES[values.get("architecture", specs["architecture"].default)]
            arch_specs = {p.name: p for p in arch.params}
            params: dict[str, Any] = {}
            for name in list(given):
                if name in arch_specs:
                    params[name] = _checked(arch_specs[name], given.pop(name), f"model.{name}", source)
            values["params"] = {p.name: params.get(p.name, p.default) for p in arch.params}
            if given:
                name = sorted(given)[0]
                allowed = sorted(set(specs) - {"params"} | set(arch_specs))
                raise ConfigError(f"model.{name}", f"unknown key for architecture {arch.name!r}; "
                                  f"allowed: {', '.join(allowed)}", source)
        elif given:
            name = sorted(map(str, given))[0]
            raise ConfigError(f"{section}.{name}", f"unknown key; allowed: {', '.join(specs)}", source)
        sections[section] = cls(**values)
    config = ExperimentConfig(**sections)
    if check:
        check_consistency(config, source)
    return config


def _checked(param: Param, value: Any, key: str, source: str | None) -> Any:
    try:
        return param.validate(value, key)
    except ConfigError as exc:
        raise (exc.with_source(source) if source else exc) from None


def parse_devices(text: str) -> str | tuple[int, ...]:
    """training.devices as "auto", "cpu" or a tuple of distinct GPU indices (ConfigError naming the key if not)."""
    value = text.strip().lower()
    if value in ("auto", "cpu"):
        return value
    items = [t.strip() for t in value.strip("[]").split(",")]
    if not items or not all(t.isdigit() for t in items) or len(set(items)) != len(items):
        raise ConfigError("training.devices", f"got {text!r}; expected auto, cpu, or distinct GPU indices like 0,1")
    return tuple(int(t) for t in items)


def check_consistency(config: ExperimentConfig, source: str | None = None) -> None:
    """Cross-field rules that no single key can express."""
    try:
        parse_devices(config.training.devices)
    except ConfigError as exc:
        raise exc.with_source(source) if source else exc from None
    ds = config.dataset
    if ds.name == "folder" and not ds.path:
        raise ConfigError("dataset.path", "an image folder is needed when dataset.name = folder "
                          "(one sub-folder per class)", source)
    if ds.name == "folder" and ds.val_fraction + ds.test_fraction >= 0.95:
        raise ConfigError("dataset.test_fraction", "validation and test fractions leave no training data; "
                          "keep their sum below 0.95", source)


def load(path: str | Path, check: bool = True) -> ExperimentConfig:
    """Read and validate a TOML experiment file (a preset or a run's config.toml); `check` as in from_dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", "file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read: {exc}", str(path)) from None
    return loads(text, str(path), check)


def loads(text: str, source: str | None = None, check: bool = True) -> ExperimentConfig:
    from tui.core.params import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", source) from None
    return from_dict(data, source, check)


def read_meta(path: str | Path) -> dict[str, str]:
    """The ``[meta]`` table of a preset (description, expected), or {} if it has none or is unreadable."""
    from tui.core.params import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    meta = data.get("meta", {})
    return {k: v for k, v in meta.items() if isinstance(v, str)} if isinstance(meta, dict) else {}


def dumps(config: ExperimentConfig, meta: Mapping[str, str] | None = None) -> str:
    """TOML text for `config` (every key, with its help as a comment), written with tomlkit."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("cnn-tui experiment; keys are documented in README.md (Configuration reference)"))
    if meta:
        table = tomlkit.table()
        for k, v in meta.items():
            table.add(k, v)
        doc.add("meta", table)
    values = config.to_dict()
    for section in SECTIONS:
        table = tomlkit.table()
        helps = {p.name: p.help for p in section_params(section)}
        if section == "model":
            helps.update({p.name: p.help for p in ARCHITECTURES[config.model.architecture].params})
        for name, value in values[section].items():
            item = tomlkit.item(value)
            if helps.get(name):
                item.comment(helps[name])
            table.add(name, item)
        doc.add(section, table)
    return tomlkit.dumps(doc)


def save(config: ExperimentConfig, path: str | Path, meta: Mapping[str, str] | None = None) -> Path:
    from tui.core.atomic import atomic_write_text

    return atomic_write_text(Path(path), dumps(config, meta))


def parse_override(text: str) -> tuple[str, str]:
    """Split a ``section.key=value`` override; the value is parsed later against the key's Param."""
    key, eq, value = text.partition("=")
    if not eq or "." not in key:
        raise ConfigError(key.strip(), "an override looks like section.key=value, e.g. training.epochs=5")
    return key.strip(), value


def apply_overrides(config: ExperimentConfig, overrides: list[str], source: str = "--set") -> ExperimentConfig:
    """Apply ``--set section.key=value`` strings as a whole: each value is parsed against its key (an
    architecture parameter against the architecture the options end with), then all are applied at once and
    validated once, so the order of the options never matters (a key given twice: the last one wins)."""
    pairs = [parse_override(o) for o in overrides]
    arch = config.model.architecture
    for key, text in pairs:
        if key == "model.architecture":
            arch = text.strip().strip("\"'")
    values = {key: param_for(key, arch).parse_text(text, key) for key, text in pairs}
    return config.with_values(values, source=source)


def reference_table() -> str:
    """Markdown table of every key (architecture parameters included) for the README."""
    rows = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for section in SECTIONS:
        for p in section_params(section):
            rows.append(f"| `{section}.{p.name}` | `{_toml_literal(p.default)}` | {p.allowed()} | {p.help} |")
    for arch in ARCHITECTURES.values():
        for p in arch.params:
            rows.append(f"| `model.{p.name}` ({arch.name}) | `{_toml_literal(p.default)}` | {p.allowed()} | {p.help} |")
    return "\n".join(rows)


def _toml_literal(value: Any) -> str:
    """A default as the reference table shows it: TOML's literal (text in quotes)."""
    return f'"{value}"' if isinstance(value, str) else format_value(value)
