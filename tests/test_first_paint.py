"""The first frame of `cnn-tui` comes before any heavy import: TensorFlow, Keras, NumPy and plotext load after the
set-up screen is on the terminal (their work fills the side column and the model summary afterwards), so the
first paint costs about what a bare Textual app's does (benchmarks/first_paint.py measures it)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIRST_FRAME = """
import json, os, sys
from tui.ui.app import CnnTuiApp

app = CnnTuiApp(runs_dir=sys.argv[1])
real = app._display

def display(screen, renderable):
    batched = app._batch_count  # Textual writes no frame inside a batch (its start-up is one)
    real(screen, renderable)
    if renderable is None or batched or type(screen).__name__ != "SetupScreen":
        return
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "numpy", "plotext"})
    text = " ".join(str(w.render()) for w in screen.query("#start-row *"))
    form = " ".join(str(w.render()) for w in screen.query("#form-picture"))
    forms = bool(screen.query("#tabs"))
    # straight to the process's stdout: Textual captures print() while it runs, and os._exit drops what it holds
    # (it reached the pipe only where PYTHONUNBUFFERED was set)
    os.write(1, ("FRAME " + json.dumps({"heavy": heavy, "start": text, "form": form, "forms": forms}) + "\\n").encode())
    os._exit(0)

app._display = display
app.run(headless=True, size=(120, 40))
"""



def test_the_first_frame_is_drawn_before_tensorflow_numpy_or_plotext_are_imported(tmp_path):
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    line = next((l for l in out.stdout.splitlines() if l.startswith("FRAME ")), None)
    assert line is not None, out.stdout[-2000:] + out.stderr[-2000:]
    frame = json.loads(line[6:])
    assert frame["heavy"] == []
    assert "Start training" in frame["start"]


def test_the_first_frame_written_is_the_picture_of_the_forms_not_the_forms_themselves(tmp_path):
    """The ~90 widgets of the forms are built once the first frame is on the terminal; a frame laid out during
    Textual's start-up batch is never written, so the forms must not be built on the strength of that one."""
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    frame = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("FRAME "))[6:])
    assert frame["forms"] is False and "Load a preset" in frame["form"]


def test_the_first_frame_shows_the_data_tab_with_every_field_and_its_value(tmp_path):
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    frame = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("FRAME "))[6:])
    lines = frame["form"].splitlines()
    assert "Load a preset" in lines[0] and "Data" in lines[1] and "Training" in lines[1]
    fields = {line.split()[0]: line.split(None, 1)[1].strip() for line in lines[5:] if line.strip()}
    name = fields.pop("name")
    assert name.startswith("digits") and name.endswith("▼")  # a select, its arrow at the right
    assert fields == {"path": "(empty)", "data_dir": "(empty)", "train_size": "0", "val_fraction": "0.1",
                      "test_fraction": "0.1", "grayscale": "▐X▌ off", "rescale": "▐X▌ on", "image_size": "64",
                      "seed": "42"}


async def test_the_forms_replace_their_picture_and_the_first_field_has_the_focus(tmp_path):
    from textual.widgets import Button, Select

    from pilot_wait import forms_built
    from tui.ui.app import CnnTuiApp

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await forms_built(pilot)
        await pilot.pause()
        assert not app.screen.query("#form-picture") and not app.screen.query("#start-picture")
        assert "Start training" in str(app.screen.query_one("#start", Button).label)
        assert isinstance(app.screen.focused, Select) and app.screen.focused.id == "preset"


async def test_the_side_column_and_the_model_summary_follow_the_first_frame(tmp_path):
    from textual.widgets import Static

    from pilot_wait import until
    from tui.ui.app import CnnTuiApp

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(app.screen.query("#lr-preview")))
        await until(pilot, lambda: "param" in str(app.screen.query_one("#model-summary", Static).render()),
                    seconds=180)
        assert "planned learning rate" in str(app.screen.query_one("#lr-preview").render())


async def test_the_garbage_collector_that_cnn_tui_starts_without_is_back_on_after_the_first_frame(tmp_path):
    import gc

    from tui.ui.app import CnnTuiApp

    app = CnnTuiApp(runs_dir=str(tmp_path))
    app.collect_after_paint = True  # what run_app sets when tui/cli.py turned the collector off for the start
    gc.disable()
    try:
        async with app.run_test() as pilot:
            await pilot.pause()
            assert app.first_paint is not None and gc.isenabled()
    finally:
        gc.enable()


async def test_a_key_typed_before_the_forms_are_built_reaches_them(tmp_path):
    """The first frame shows a picture of the forms; Tab pressed while it is up moves the focus in the forms once
    they are there, as it would have a moment later (the key is kept, not lost)."""
    from pilot_wait import forms_built
    from tui.ui.app import CnnTuiApp

    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.screen.query("#tabs")  # still the picture: the key comes before the forms
        await pilot.press("tab")
        await forms_built(pilot)
        await pilot.pause()
        chain = app.screen.focus_chain
        assert chain[0].id == "preset" and app.screen.focused is chain[1]  # one field on from the first
