"""The one-cycle schedule: the learning rate (and the momentum, where the optimizer has one) set before every
batch."""

from __future__ import annotations

from typing import Any

import keras

from tui.core.changes import RunPlan
from tui.core.config import ExperimentConfig
from tui.core.schedules import one_cycle

MOMENTUM_ATTRIBUTES = {"momentum": "momentum", "nesterov": "momentum", "adam": "beta_1", "amsgrad": "beta_1",
                       "nadam": "beta_1", "adamw": "beta_1"}
"""The optimizer attribute one_cycle cycles inversely to the rate, for the optimizers (as built by
tui.core.keras_parts.make_optimizer) that have a momentum."""


class OneCycle(keras.callbacks.Callback):
    """Sets the learning rate (and the momentum, where the optimizer has one) before every batch, from
    :func:`tui.core.schedules.one_cycle` over all ``training.epochs × steps`` steps (steps per epoch as fit was
    given them, unless `steps_per_epoch` says); optimizer.learning_rate is the peak. Keras' LearningRateScheduler
    changes the rate once an epoch only, too coarse for a cycle.

    Keras optimizers read momentum / beta_1 as a Python float, frozen into the compiled train step; the callback
    swaps in a variable of the same value before the first step (set on the optimizer without tracking it, so
    the optimizer's saved variables do not change) and puts the float back at each epoch's end, before
    checkpoints serialise the optimizer's configuration. With a `plan` (tui.core.changes.RunPlan), the cycle spans
    the epochs as changed and its rates are scaled by the plan's learning-rate scale."""

    def __init__(self, config: ExperimentConfig, steps_per_epoch: int | None = None,
                 plan: RunPlan | None = None) -> None:
        super().__init__()
        self._config = config
        self._steps_per_epoch = steps_per_epoch
        self._plan = plan
        self._schedule, self._peak = config.schedule, config.optimizer.learning_rate
        self._attribute = MOMENTUM_ATTRIBUTES.get(config.optimizer.name)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        epochs = self._config.training.epochs
        self._steps = self._steps_per_epoch or int(self.params.get("steps") or 1)
        self._total = max(1, epochs * self._steps)
        self._epochs = epochs
        self._step = 0
        self._momentum: Any = None
        self.lr = self.momentum = float("nan")
        if self._attribute is not None:
            value = float(getattr(self.model.optimizer, self._attribute))
            self._max_momentum = value
            self._momentum = momentum_variable(value)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._step = epoch * self._steps  # also right after a resume at `epoch`
        if self._momentum is not None:
            object.__setattr__(self.model.optimizer, str(self._attribute), self._momentum)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        plan = self._plan
        if plan is not None and plan.epochs != self._epochs:
            self._epochs = plan.epochs
            self._total = max(1, plan.epochs * self._steps)
        lr, momentum = one_cycle(self._schedule, self._peak, min(1.0, self._step / self._total),
                                 self._max_momentum if self._momentum is not None else None)
        if plan is not None:
            lr *= plan.lr_scale
        self.model.optimizer.learning_rate = lr
        if momentum is not None:
            self._momentum.assign(momentum)
        self.lr, self.momentum = lr, (momentum if momentum is not None else float("nan"))
        self._step += 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._put_float_back()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._put_float_back()

    def _put_float_back(self) -> None:
        """The optimizer's momentum as a plain float again (what its saved configuration holds)."""
        if self._momentum is not None:
            object.__setattr__(self.model.optimizer, str(self._attribute), float(self._momentum.numpy()))


def momentum_variable(value: float) -> Any:
    """A Keras variable holding a momentum that Keras' optimizers can also compare with a number in Python
    (``if self.momentum != 0`` in SGD and RMSprop): the comparison uses the value it was created with, which
    decides only whether the optimizer keeps momentum slots. (Its class derives from the backend's variable class,
    known only once a variable exists.)"""
    base = type(keras.Variable(0.0, trainable=False))

    class MomentumVariable(base):  # type: ignore[misc, valid-type]
        def __ne__(self, other: object) -> Any:
            return value != other if isinstance(other, (int, float)) else super().__ne__(other)

        def __gt__(self, other: object) -> Any:
            return value > other if isinstance(other, (int, float)) else super().__gt__(other)

        __hash__ = base.__hash__

    return MomentumVariable(value, trainable=False, name="one_cycle_momentum")
