"""`cnn-tui predict RUN_DIR IMAGE...`: the top classes of image files with a run's saved model."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tui.core import config as cfg
from tui.core.predict import PredictError, load_run_model, predict_files, read_image
from tui.core.session import TrainingSession

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "simple_cnn",
        "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 2, "training.batch_size": 32}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path_factory.mktemp("runs"))
    assert session.run().status == "finished"
    return session.run_dir


@pytest.fixture
def digit_png(tmp_path):
    pixels = np.zeros((8, 8), np.uint8)
    pixels[1:7, 3:5] = 255  # a "1"
    path = tmp_path / "one.png"
    Image.fromarray(pixels, "L").save(path)
    return path, pixels


def test_the_top_classes_are_the_models_own_probabilities_for_the_image(run_dir, digit_png):
    path, pixels = digit_png
    run = load_run_model(run_dir)
    assert run.model_file.name == "best.keras" and run.input_shape == (8, 8, 1)
    assert run.class_names == tuple("0123456789")
    [pred] = predict_files(run, [path], top_k=3)
    expected = np.asarray(run.model.predict(pixels[None, ..., None], verbose=0))[0]
    order = np.argsort(-expected)[:3]
    assert pred.error is None and [name for name, _ in pred.top] == [str(i) for i in order]
    assert [p for _, p in pred.top] == pytest.approx(expected[order].tolist(), rel=1e-5)


def test_images_are_converted_to_the_models_channels_and_size(tmp_path):
    rgb = np.zeros((32, 24, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    Image.fromarray(rgb, "RGB").save(tmp_path / "red.png")
    gray = read_image(tmp_path / "red.png", (8, 8, 1))
    assert gray.shape == (8, 8, 1) and gray.dtype == np.uint8
    assert int(gray[4, 4, 0]) == 76  # Pillow's luminance of red: 255 * 299/1000
    assert read_image(tmp_path / "red.png", (6, 10, 3)).shape == (6, 10, 3)


def test_a_run_without_a_model_says_what_to_do(tmp_path):
    (tmp_path / "config.toml").write_text(cfg.dumps(cfg.ExperimentConfig()))
    with pytest.raises(PredictError, match="no saved model .*train it again"):
        load_run_model(tmp_path)


def test_the_command_reports_bad_files_by_name_and_still_predicts_the_others(run_dir, digit_png, tmp_path):
    path, _ = digit_png
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    proc = subprocess.run([sys.executable, "-m", "tui.cli", "predict", str(run_dir), str(tmp_path / "corrupt.png"),
                           str(path), str(tmp_path / "missing.jpg"), "--top-k", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith(str(path))]
    assert len(line.split(",")) == 2 and line.count("%") == 2  # two classes with probabilities
    errors = proc.stderr.strip().splitlines()
    assert errors == [
        f"cnn-tui predict: {tmp_path / 'corrupt.png'}: not an image Pillow can read; give a PNG, JPEG, BMP, GIF "
        "or TIFF file",
        f"cnn-tui predict: {tmp_path / 'missing.jpg'}: no such file; check the path",
    ]
