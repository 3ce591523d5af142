"""What a training screen reads of its session, for tests that feed it events themselves."""


class StillSession:
    """A session the screen can ask to stop, pause and resume, which does nothing (the test plays the run)."""

    paused = False
    stop_requested = False

    def stop(self) -> None:
        pass

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass
