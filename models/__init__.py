"""Keras architectures for cnn-tui.

Each architecture is a module here with ``DESCRIPTION``, ``PARAMS`` (its own configuration keys, ``model.<name>``),
``check(config, input_shape, num_classes) -> str | None`` (a pure, TensorFlow-free reason the architecture cannot
work for this dataset, or None) and ``build(config, input_shape, num_classes) -> keras.Model`` (uncompiled; Keras is
imported inside ``build`` so that importing this package stays cheap).
"""

from models.registry import ARCHITECTURES, Architecture, ArchitectureError, build_model, check_model

__all__ = ["ARCHITECTURES", "Architecture", "ArchitectureError", "build_model", "check_model"]
