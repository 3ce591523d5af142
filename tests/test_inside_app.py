"""The inside view in the app: opened on the training screen it shows, after each epoch, exactly the weights the
model had at the end of that epoch; opened from a run's detail it shows the saved model on a kept mistake."""

import numpy as np
from textual.widgets import Static

from tests.test_app import until
from tui.core import config as cfg
from tui.core import inside
from tui.core.events import EpochEnd
from tui.core.records import load_model_safe
from tui.core.rundir import RunDir
from tui.core.session import TrainingSession
from tui.ui.app import CnnTuiApp
from tui.ui.screens.inside import InsideScreen
from tui.ui.screens.training import TrainingScreen
from tui.ui.widgets.picture import Picture

TINY = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "simple_cnn",
        "model.conv_filters": 4, "model.dense_units": 8, "training.batch_size": 50, "training.epochs": 3,
        "training.checkpoint_every": 1}


class HeldEachEpoch(TrainingSession):
    """A run held from its first batch until the test has opened the view, then after each epoch until the test
    has looked (a pause waits at the next batch). Held from the start: on a busy machine a tiny run got through
    two epochs before a test that subscribed once the training screen was up."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pause()
        self.subscribe(lambda e: self.pause() if isinstance(e, EpochEnd) else None)


async def test_the_live_view_after_epoch_n_shows_the_weights_of_epoch_n_and_refreshes_each_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr("tui.core.session.TrainingSession", HeldEachEpoch)
    # epochs 1-3 are looked at; a 4th keeps the run held (and live) after the 3rd: a pause waits at the next batch
    app = CnnTuiApp(cfg.ExperimentConfig().with_values({**TINY, "training.epochs": 4}), runs_dir=tmp_path)
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, TrainingScreen))
        session = app.session
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, InsideScreen) and session.inside_tap.is_open
        session.resume()
        try:
            await check_each_epoch(pilot, session, screen)
        finally:
            session.stop()  # a failed check must not leave the run paused
        await pilot.press("escape")
        assert not session.inside_tap.is_open  # closed: the training thread copies nothing any more
        await app.workers.wait_for_complete()


async def load_when_written(pilot, path):
    """The checkpoint Keras writes at the same epoch end, once it is complete."""
    loaded = []

    def done():
        try:
            loaded.append(load_model_safe(path))
        except ValueError:
            return False
        return True

    await until(pilot, done, 20)
    return loaded[-1]


async def check_each_epoch(pilot, session, screen):
    for epoch in (1, 2, 3):
        try:
            await until(pilot, lambda n=epoch: screen.view is not None and screen.view.epoch == n, 60)
        except AssertionError:
            raise AssertionError(f"epoch {epoch} never shown; on screen: "
                                 f"{screen.query_one('#inside-status', Static).render()} "
                                 f"{screen.query_one('#inside-error', Static).render()}") from None
        checkpoint = RunDir(session.run_dir).checkpoints_dir / f"epoch-{epoch:03d}.keras"
        saved = await load_when_written(pilot, checkpoint)
        for shown, kept in zip(screen.view.weights, saved.get_weights(), strict=True):
            np.testing.assert_array_equal(shown, kept)
        # What is drawn is those weights: the first-layer filters of the saved model, picture for picture.
        _, filters = inside.first_layer_filters(saved)
        assert [t.image.tolist() for t in screen.view.filters] == [t.image.tolist() for t in filters]
        assert len(screen.query_one("#inside-filters").query(Picture)) == 4
        assert "live" in str(screen.query_one("#inside-status", Static).render())
        if epoch < 3:
            session.resume()
    assert screen.epochs_shown == [1, 2, 3]  # (the run is held after epoch 3: the caller stops it)


async def test_a_runs_detail_opens_the_view_on_its_most_confident_mistake_and_reads_image_files(tmp_path):
    from PIL import Image

    from tui.core.runs import read_run
    from tui.ui.screens.runs import RunDetailScreen

    config = cfg.ExperimentConfig().with_values({**TINY, "training.checkpoint_every": 0, "training.epochs": 1})
    session = TrainingSession(config, runs_dir=tmp_path)
    assert session.run().status == "finished"
    (tmp_path / "bad.png").write_text("not an image")
    app = CnnTuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(140, 50)) as pilot:
        app.push_screen(RunDetailScreen(read_run(session.run_dir)))
        await pilot.pause()
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, InsideScreen)
        await until(pilot, lambda: screen.view is not None, 60)
        kept = inside.kept_examples(session.run_dir)[0]
        np.testing.assert_array_equal(screen.view.image, kept.image)
        status = str(screen.query_one("#inside-status", Static).render())
        assert "saved model best.keras" in status and "mistake" in status
        assert len(screen.view.cams) == 2  # predicted and true class
        # An unreadable file: the message names it, the view already shown stays.
        await pilot.press("o")
        screen.query_one("#inside-file").value = str(tmp_path / "bad.png")
        await pilot.press("enter")
        await until(pilot, lambda: screen.query_one("#inside-error").has_class("-shown"), 30)
        assert "bad.png: not an image Pillow can read" in str(screen.query_one("#inside-error", Static).render())
        np.testing.assert_array_equal(screen.view.image, kept.image)
        pixels = np.zeros((8, 8), np.uint8)
        pixels[1:7, 3:5] = 255
        Image.fromarray(pixels, "L").save(tmp_path / "one.png")
        await pilot.press("o")
        screen.query_one("#inside-file").value = str(tmp_path / "one.png")
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.image[..., 0].tolist() == pixels.tolist(), 30)
        assert not screen.query_one("#inside-error").has_class("-shown")
