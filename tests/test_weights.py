"""Transfer learning where the ImageNet weights cannot be downloaded (issue 15): a local model.weights_file, checked
before training, loaded into the backbone; the download (when there is internet) goes through our own reader with
progress into Keras' cache; every refusal says what is wrong and what to do. No test sends traffic anywhere: the
URL opener is replaced."""

import io
import urllib.error

import numpy as np
import pytest

from tui.core import config as cfg
from tui.core.datasets import sources
from tui.core.events import Prepare
from tui.core.session import TrainingSession

TRANSFER = {"dataset.name": "digits", "dataset.train_size": 60, "model.architecture": "transfer",
            "model.backbone": "mobilenetv2", "model.mode": "transfer", "model.input_size": 32,
            "training.epochs": 1, "training.batch_size": 30, "training.gradient_every": 0}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Keras' cache in a fresh folder, and no network: any download attempt fails as it does here."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def no_network(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sources, "open_url", no_network)


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory):
    """Weights saved from a MobileNetV2 without its classifier built here (weights=None), made recognisable."""
    import keras

    keras.utils.set_random_seed(7)
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    first = backbone.get_layer("Conv1")
    first.set_weights([np.full_like(w, 0.0123) for w in first.get_weights()])
    path = tmp_path_factory.mktemp("weights") / "mobilenetv2-notop.weights.h5"
    backbone.save_weights(path)
    return path


def run(tmp_path, **values):
    events = []
    config = cfg.ExperimentConfig().with_values({**TRANSFER, **values})
    result = TrainingSession(config, runs_dir=tmp_path / "runs", listeners=[events.append]).run()
    return result, events


def test_a_local_weights_file_is_loaded_into_the_backbone_and_trains(tmp_path, backbone_file):
    from models import build_model

    config = cfg.ExperimentConfig().with_values({**TRANSFER, "model.weights_file": str(backbone_file)})
    model = build_model(config, (8, 8, 1), 10)
    backbone = next(layer for layer in model.layers if layer.name.startswith("mobilenetv2"))
    assert np.allclose(backbone.get_layer("Conv1").get_weights()[0], 0.0123)
    result, _ = run(tmp_path, **{"model.weights_file": str(backbone_file)})
    assert result.status == "finished", result.error
    assert result.summary["config"]["model"]["weights_file"] == str(backbone_file)


def test_a_missing_weights_file_is_refused_before_anything_slow(tmp_path):
    result, events = run(tmp_path, **{"model.weights_file": str(tmp_path / "nowhere.weights.h5")})
    assert result.status == "failed"
    assert "model.weights_file" in result.error and "no such file" in result.error
    assert not any(isinstance(e, Prepare) and e.stage == "dataset" for e in events)  # before the data


def test_a_damaged_weights_file_is_refused_with_what_to_do(tmp_path, backbone_file):
    damaged = tmp_path / "damaged.weights.h5"
    damaged.write_bytes(backbone_file.read_bytes()[:5000])
    result, _ = run(tmp_path, **{"model.weights_file": str(damaged)})
    assert result.status == "failed"
    assert "cannot be read as a weights file" in result.error and "copy or download it again" in result.error


def test_weights_of_another_architecture_are_refused_naming_the_backbone(tmp_path):
    import keras

    other = tmp_path / "other.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(other)
    result, _ = run(tmp_path, **{"model.weights_file": str(other)})
    assert result.status == "failed"
    assert "do not fit the mobilenetv2 backbone" in result.error and "include_top=False" in result.error


def test_without_internet_the_imagenet_download_is_refused_suggesting_a_weights_file(tmp_path):
    result, _ = run(tmp_path)
    assert result.status == "failed"
    assert "could not be downloaded" in result.error and "Temporary failure in name resolution" in result.error
    assert "--set model.weights_file=" in result.error


def test_the_imagenet_download_reports_progress_and_lands_where_keras_looks(tmp_path, monkeypatch, backbone_file):
    """With internet: our reader (progress events, nothing printed) into $KERAS_HOME/models, then loaded."""
    from tui.core.weights import imagenet_source, keras_cache_dir

    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    # Keras Applications' files are in Keras' legacy HDF5 format (read by the .h5 name): serve one like them.
    backbone = keras.applications.MobileNetV2(include_top=False, weights=str(backbone_file), input_shape=(32, 32, 3))
    legacy = tmp_path / "legacy.h5"
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    payload = legacy.read_bytes()
    asked = []

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

    def fake_open(url, timeout):
        asked.append(url)
        return Response(payload)

    monkeypatch.setattr(sources, "open_url", fake_open)
    name, url, _ = imagenet_source("mobilenetv2", 32)
    # The file Keras Applications would fetch: at 32 pixels MobileNetV2 loads its 224 file.
    assert name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    result, events = run(tmp_path)
    assert result.status == "finished", result.error
    assert asked == [url]
    assert (keras_cache_dir() / name).read_bytes() == payload
    downloads = [e for e in events if isinstance(e, Prepare) and e.stage == "weights"]
    assert downloads and downloads[-1].done == downloads[-1].total == len(payload)
    assert downloads[-1].message == f"Downloading {name}"
