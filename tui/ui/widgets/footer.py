"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer rebuilds its key widgets (removes them, composes and mounts new ones) every time its screen says
its bindings may have changed, once per notice: pushing the run history sent three (the focus set, the screen
resumed, the stack changed) and the set-up screen underneath rebuilt its own, hidden, footer once more; each
rebuild took ~25 ms of a quiet machine (~100 ms of a loaded one) before every run was listed. This one rebuilds
at most once a frame, only on the screen shown, and only when the keys differ from the ones it shows; and its keys
are made in their final style instead of restyled once mounted."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.reactive import Reactive
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Any, ...] | None = None
        """The keys on show (`_keys`), None before the first build with bindings."""
        self._pending = False

    def _keys(self) -> tuple[Any, ...]:
        """What the footer draws: each shown binding's key, description, tooltip and whether it is enabled."""
        keys = tuple((binding.key, binding.key_display, binding.description, binding.group, enabled, tooltip)
                     for (_, binding, enabled, tooltip) in self.screen.active_bindings.values() if binding.show)
        return (keys, self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE, self.compact)

    def compose(self) -> ComposeResult:
        self._shown = self._keys() if self._bindings_ready else None
        for widget in super().compose():
            compact = getattr(type(widget), "compact", None)  # a key (FooterKey) bound to the footer's look
            if isinstance(compact, Reactive) and not widget.has_class("-command-palette"):  # (that one is not)
                # made with the footer's look (Textual's keys start compact and are told otherwise once mounted:
                # each then had the whole stylesheet applied again, most of a rebuild's time)
                widget.set_reactive(compact, self.compact)
            yield widget

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending or not self.is_attached or screen is not self.screen:
            return
        if not screen.is_active:
            return  # hidden: looked at again when its screen is shown (a resumed screen's bindings change)
        self._pending = True
        self.call_after_refresh(self._rebuild)

    def _rebuild(self) -> None:
        # rebuilt in the footer's own turn: the screen's other callbacks after this frame do not wait for it
        self._pending = False
        if self.is_attached and self._keys() != self._shown:
            self.refresh(recompose=True)
