"""`cnn-tui inspect RUN_DIR [IMAGE]`: the inside view as PNG files in RUN_DIR/inspect/, linked from summary.md."""

import numpy as np
import pytest
from PIL import Image

from tui import cli
from tui.core import config as cfg
from tui.core.rundir import RunDir
from tui.core.session import TrainingSession

TINY = {"dataset.name": "digits", "dataset.train_size": 300, "model.architecture": "simple_cnn",
        "model.conv_filters": 4, "model.dense_units": 8, "training.epochs": 2, "training.batch_size": 32}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path_factory.mktemp("runs"))
    assert session.run().status == "finished"
    return session.run_dir


def test_inspect_writes_the_views_as_pngs_prints_their_paths_and_links_them_from_summary_md(run_dir, capsys):
    assert cli.main(["inspect", str(run_dir)]) == 0
    out = capsys.readouterr().out
    folder = RunDir(run_dir).inspect_dir
    pngs = sorted(folder.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"input.png", "filters.png"} <= names
    assert any(n.startswith("maps-01-") for n in names) and any(n.startswith("gradcam-predicted-") for n in names)
    for p in pngs:
        assert str(p) in out
        with Image.open(p) as im:
            assert im.format == "PNG" and im.mode == "RGB" and min(im.size) > 8
    # The default image is the most confident kept mistake: its true class gets a heatmap too.
    assert "image: test example" in out and ("mistake" not in out or "gradcam-true-" in " ".join(names))
    assert "top classes:" in out and "output 6x6x4" in out  # 8x8 digits, 3x3 valid conv, 4 filters
    md = (run_dir / "summary.md").read_text()
    assert "## Inside the network" in md and "(inspect/filters.png)" in md


def test_inspect_of_an_image_file_and_of_an_unreadable_one(run_dir, tmp_path, capsys):
    pixels = np.zeros((8, 8), np.uint8)
    pixels[1:7, 3:5] = 255
    Image.fromarray(pixels, "L").save(tmp_path / "one.png")
    assert cli.main(["inspect", str(run_dir), str(tmp_path / "one.png")]) == 0
    assert f"image: {tmp_path / 'one.png'}" in capsys.readouterr().out
    with Image.open(run_dir / "inspect" / "input.png") as im:
        assert np.asarray(im)[..., 0].max() == 255  # the file's pixels, not a test example
    (tmp_path / "bad.png").write_text("hello")
    assert cli.main(["inspect", str(run_dir), str(tmp_path / "bad.png")]) == 2
    assert "bad.png: not an image Pillow can read" in capsys.readouterr().err


def test_inspect_of_a_run_without_a_model_says_what_to_do(tmp_path, capsys):
    (tmp_path / "config.toml").write_text(cfg.dumps(cfg.ExperimentConfig()))
    assert cli.main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has no saved model" in err and "train it again" in err
    assert not (tmp_path / "inspect").exists()
