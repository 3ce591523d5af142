"""One configuration key as a form row: a label, a control that fits its type, and its validation message."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from tui.core.params import ConfigError, Param
from tui.ui.messages import FieldChanged


class ParamField(Widget):
    """Validates as you type with the core's own Param rules, and posts FieldChanged."""

    DEFAULT_CSS = """
    ParamField { height: auto; layout: grid; grid-size: 2; grid-columns: 20 1fr; grid-rows: auto; }
    ParamField .label { width: 20; padding: 0 1 0 0; }
    ParamField Input, ParamField Select { width: 1fr; }
    ParamField Checkbox { width: auto; }
    ParamField .error { color: $error; height: auto; column-span: 2; padding: 0 0 0 20; }
    ParamField .error.-empty { display: none; }
    """

    def __init__(self, key: str, param: Param, value: Any) -> None:
        super().__init__(id="field-" + key.replace(".", "-"))
        self.key = key
        self.param = param
        self.value = value

    def compose(self) -> ComposeResult:
        p = self.param
        label = Label(self.key.split(".", 1)[1], classes="label")
        label.tooltip = f"{self.key}: {p.help}"
        yield label
        control: Select[Any] | Checkbox | Input
        if p.choices:
            control = Select([(c, c) for c in p.choices], value=self.value, allow_blank=False, id="control",
                             compact=True)
        elif p.kind is bool:
            control = Checkbox("on" if self.value else "off", bool(self.value), id="control", compact=True)
        else:
            control = Input(p.format_text(self.value), id="control", compact=True,
                            placeholder="(empty)" if p.kind is str else p.allowed())
        control.tooltip = f"{self.key}: {p.help} ({p.allowed()})"
        yield control
        yield Static("", classes="error -empty")

    def show_error(self, error: str | None) -> None:
        err = self.query_one(".error", Static)
        err.update(error or "")
        err.set_class(not error, "-empty")

    def _report(self, value: Any, error: str | None) -> None:
        self.show_error(error)
        if error is None:
            self.value = value
        self.post_message(FieldChanged(self.key, value, error))

    @on(Input.Changed, "#control")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = self.param.parse_text(event.value, self.key)
            if value == self.value and not self.query_one(".error", Static).has_class("-empty"):
                self._report(value, None)  # back to a valid value after an error
            elif value != self.value:
                self._report(value, None)  # (the Changed sent when the field mounts is not an edit)
        except ConfigError as exc:
            self._report(None, exc.message)

    @on(Select.Changed, "#control")
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        if event.value != Select.BLANK and event.value != self.value:
            self._report(event.value, None)

    @on(Checkbox.Changed, "#control")
    def _switched(self, event: Checkbox.Changed) -> None:
        event.stop()
        event.checkbox.label = "on" if event.value else "off"
        self._report(event.value, None)
