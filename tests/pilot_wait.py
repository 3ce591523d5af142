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
