"""Our Keras callbacks, as plain classes, one module per family.

Every module here imports Keras (and so TensorFlow) when it is imported: only the training thread imports them,
through :mod:`tui.core.keras_parts`, :mod:`tui.core.session` and :mod:`tui.core.lrfind`, which import them inside
functions. This package is the one part of the core that tests/test_layering.py lets load TensorFlow; this
``__init__`` imports nothing.

- :mod:`.saving`     the Keras 3.15 save-cache work-around (first in every list), checkpoints every N epochs, the
                     best model and the resume backup written within a share of the training time (the backup
                     with the random-generator states its weights omit)
- :mod:`.caches`     TensorFlow's scalar cache emptied at every epoch's end (last in every list)
- :mod:`.progress`   training → events (BatchEnd, EpochEnd), stop and pause at batch boundaries
- :mod:`.logs`       the regularization penalty added to the epoch logs
- :mod:`.gradients`  per-layer gradient norms on a fixed batch (the gradient-flow panel)
- :mod:`.changes`    settings changed while paused, applied in the training thread
- :mod:`.one_cycle`  the one-cycle learning rate and momentum
- :mod:`.inside`     weight snapshots for the inside view
- :mod:`.lrfind`     the learning-rate range test (the rate before each batch, the loss after it)
"""

ONE_HOT_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "categorical_focal_crossentropy",
                  "kl_divergence", "mean_squared_error")
"""Losses that take one-hot labels (the input pipeline and the gradient-flow batch encode the labels so)."""
