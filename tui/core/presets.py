"""Finding presets: the project's presets/ folder (or its packaged copy) and a user folder.

A preset is data: a TOML experiment with an optional [meta] table. It is read, validated, never executed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

from tui.core.config import ExperimentConfig, read_meta


class PresetNotFound(FileNotFoundError):
    def __str__(self) -> str:
        dirs = ", ".join(str(d) for d in preset_dirs())
        return f"preset {self.args[0]!r} not found (looked for the file, and in {dirs}); `cnn-tui presets` lists them"


def builtin_dir() -> Path:
    """presets/ beside the packages in a source checkout, else the copy packaged into the wheel."""
    here = Path(__file__).resolve().parents[2] / "presets"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "_presets"


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cnn-tui" / "presets"


def preset_dirs() -> list[Path]:
    return [builtin_dir(), user_dir()]


@dataclass(frozen=True)
class PresetInfo:
    name: str
    """The file's path inside its preset folder without ``.toml``: ``default``, ``scenarios/overfitting``."""
    path: Path
    description: str
    expected: str
    diagnosis: str = ""
    """Scenario presets: the doctor finding they reproduce and by when (``overfitting by epoch 8``, ``none``)."""


def list_presets() -> list[PresetInfo]:
    """Presets in the preset folders and their sub-folders one level down (``scenarios/``), top level first."""
    out: dict[str, PresetInfo] = {}
    for folder in preset_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")) + sorted(folder.glob("*/*.toml")):
                name = path.relative_to(folder).with_suffix("").as_posix()
                meta = read_meta(path)
                out.setdefault(name, PresetInfo(name, path, meta.get("description", ""), meta.get("expected", ""),
                                                meta.get("diagnosis", "")))
    return sorted(out.values(), key=lambda p: ("/" in p.name, p.name))


def resolve(name_or_path: str) -> Path:
    """A preset file from a path, or a name (with or without .toml) in the preset folders, sub-folder included
    (``scenarios/overfitting``)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = name_or_path[:-5] if name_or_path.endswith(".toml") else name_or_path
    for folder in preset_dirs():
        candidate = folder / f"{name}.toml"
        if ".." not in Path(name).parts and candidate.is_file():
            return candidate
    raise PresetNotFound(name_or_path)


def load_experiment(preset: str | None, overrides: Sequence[str] = (), data_dir: str | None = None) -> ExperimentConfig:
    """The experiment a command line describes: a preset (name or file; defaults without one) with the `--set`
    overrides and `--data-dir` applied over it, validated once as a whole (a preset that names an image folder
    dataset without its path is fine when a `--set dataset.path=DIR` gives it)."""
    from tui.core import config as cfg

    path = resolve(preset) if preset else None
    config = cfg.load(path, check=False) if path else cfg.ExperimentConfig()
    changes = list(overrides) + ([f"dataset.data_dir={data_dir}"] if data_dir else [])
    if not changes:
        cfg.check_consistency(config, str(path) if path else None)
        return config
    return cfg.apply_overrides(config, changes, source=f"{path.name} with --set" if path else "--set")
