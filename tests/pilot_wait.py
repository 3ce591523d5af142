"""Waiting on a condition in Pilot tests, instead of a fixed sleep."""

from textual.css.query import NoMatches


async def until(pilot, condition, seconds: float = 10.0, state=None) -> None:
    """Wait for `condition`; a widget it queries may be missing while a form is rebuilt (not yet, not an error)."""
    for _ in range(int(seconds / 0.05)):
        try:
            if condition():
                return
        except NoMatches:
            pass
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time" + (f": {state()}" if state is not None else ""))


async def forms_built(pilot) -> None:
    """Until the set-up screen's forms have replaced the picture of them that the first frame shows, their tab bar
    and selects included (mounted a moment after the TabbedContent: setting `active` before then is refused)."""
    await until(pilot, lambda: bool(pilot.app.screen.query("#tabs ContentTab")))
    # and until each Select has its parts: one given a value before then keeps it without a word (Textual's
    # Select._watch_value posts Changed only once its SelectCurrent and its label are mounted; caught in a fresh
    # clone: NoMatches "#label" on SelectCurrent), so the form never hears of it
    await until(pilot, lambda: all(s.query("SelectCurrent #label") for s in pilot.app.screen.query("#form Select")))


async def run_drawn(pilot, seconds: float = 30.0) -> None:
    """Until the run has ended and its training screen has drawn it: the screen's 4 Hz pump has folded every queued
    event, the run's end included, and redrawn (rather than sleeping for two ticks of the pump)."""
    # the run starts after the first frame (`start=True`): its screen may not be up yet, nor its worker started
    await until(pilot, lambda: getattr(pilot.app.screen, "monitor", None) is not None, seconds,
                state=lambda: type(pilot.app.screen).__name__)
    await pilot.app.workers.wait_for_complete()
    screen = pilot.app.screen
    await until(pilot, lambda: screen.monitor.ended is not None and not screen.events, seconds,
                state=lambda: (type(screen).__name__, screen.monitor.state, len(screen.events)))


class Notices:
    """What an app told its user in notifications (the toasts): pass it as `app.run_test(message_hook=notices)`;
    it keeps the text of every notification the app showed (Textual's Notify messages), in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message) -> None:
        from textual.notifications import Notify

        if isinstance(message, Notify):
            self.messages.append(message.notification.message)

    def count(self, text: str) -> int:
        """How many notifications so far contain `text`."""
        return sum(text in m for m in self.messages)
