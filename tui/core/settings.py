"""The user's own settings file (``$XDG_CONFIG_HOME/cnn-tui/settings.toml``, default ``~/.config/...``): things
that belong to the person, not to an experiment, and so never to a preset or a run directory.

    notify = true                              # notifications at run end, first warning, sweep end
    webhook_url = "https://example.org/hook"   # a secret: also $CNN_TUI_WEBHOOK_URL (which wins)
    max_detached = 2                           # detached runs at once on this machine (0: one per 2 cores)

Read with tomllib, unknown keys refused; written with tomlkit (comments kept).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WEBHOOK_ENV = "CNN_TUI_WEBHOOK_URL"
MAX_DETACHED_ENV = "CNN_TUI_MAX_DETACHED"
KEYS = ("notify", "webhook_url", "max_detached")


class SettingsError(Exception):
    """The settings file cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Settings:
    notify: bool = False
    webhook_url: str = ""
    max_detached: int = 0

    def __repr__(self) -> str:  # never print the secret
        return f"Settings(notify={self.notify}, webhook_url={'<set>' if self.webhook_url else ''!r}, " \
               f"max_detached={self.max_detached})"


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cnn-tui" / "settings.toml"


def load() -> Settings:
    """The settings file (defaults when there is none), then the environment variables over it."""
    from tui.core.params import tomllib

    p = path()
    data: dict[str, object] = {}
    if p.is_file():
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{p}: cannot be read as TOML: {exc}") from None
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise SettingsError(f"{p}: unknown setting {unknown[0]!r}; allowed: {', '.join(KEYS)}")
    notify, url, limit = data.get("notify", False), data.get("webhook_url", ""), data.get("max_detached", 0)
    if not isinstance(notify, bool):
        raise SettingsError(f"{p}: notify must be true or false")
    if not isinstance(url, str):
        raise SettingsError(f"{p}: webhook_url must be text (a quoted URL)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise SettingsError(f"{p}: max_detached must be a whole number ≥ 0 (0: one per 2 cores)")
    url = os.environ.get(WEBHOOK_ENV) or url
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"the webhook URL (from {WEBHOOK_ENV if os.environ.get(WEBHOOK_ENV) else p}) must "
                            "start with http:// or https://")
    env_limit = os.environ.get(MAX_DETACHED_ENV)
    if env_limit:
        try:
            limit = int(env_limit)
        except ValueError:
            raise SettingsError(f"${MAX_DETACHED_ENV} must be a whole number, not {env_limit!r}") from None
    return Settings(notify=notify, webhook_url=url, max_detached=int(limit))


def save_notify(on: bool) -> Path:
    """Set `notify` in the settings file, keeping everything else in it as written."""
    import tomlkit

    p = path()
    doc = tomlkit.parse(p.read_text(encoding="utf-8")) if p.is_file() else tomlkit.document()
    doc["notify"] = on
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.chmod(p, 0o600)  # it may hold a webhook secret
    return p
