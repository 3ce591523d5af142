"""The table of architectures, by name. Names come from this table only; nothing from a file is imported."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from models import alexnet_small, conv_stack, deep_cnn, lenet, mlp, resnet, simple_cnn, transfer, vgg_small
from models.base import ArchitectureError as ArchitectureError
from tui.core.params import Param

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from models.base import BuildOptions


@dataclass(frozen=True)
class Architecture:
    name: str
    module: ModuleType

    @property
    def description(self) -> str:
        return str(self.module.DESCRIPTION)

    @property
    def params(self) -> tuple[Param, ...]:
        return tuple(self.module.PARAMS)


ARCHITECTURES: dict[str, Architecture] = {
    m.__name__.rsplit(".", 1)[-1]: Architecture(m.__name__.rsplit(".", 1)[-1], m)
    for m in (mlp, simple_cnn, deep_cnn, vgg_small, lenet, alexnet_small, resnet, transfer, conv_stack)
}


def check_model(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int) -> str | None:
    """Why this configuration's architecture cannot work on data of this shape, or None."""
    reason: str | None = ARCHITECTURES[config.model.architecture].module.check(config, tuple(input_shape),
                                                                                num_classes)
    return reason


def build_model(config: "BuildOptions", input_shape: tuple[int, ...], num_classes: int,
                seed: int | None = None) -> "keras.Model":
    """Build the (uncompiled) model, or raise ArchitectureError with the reason it is impossible.

    The build gets its own layer-seed sequence (from `seed`, default ``training.seed``): two builds in two
    threads at once (the set-up screen's summary, the training thread) each get the weights of a build alone."""
    reason = check_model(config, input_shape, num_classes)
    if reason:
        raise ArchitectureError(reason)
    from models import common

    with common.seeded_build(config.training.seed if seed is None else seed):
        model: Any = ARCHITECTURES[config.model.architecture].module.build(config, tuple(input_shape), num_classes)
    return model
