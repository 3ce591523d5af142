"""The training core and the architectures never import Textual (nor does importing them load TensorFlow)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERAS_CALLBACKS = "tui.core.keras"
"""The one exemption: our Keras callbacks, plain classes that subclass keras.callbacks.Callback, so importing them
loads Keras. Only the training thread imports them, inside functions (tui.core.session, tui.core.keras_parts)."""


def _modules(folder: str) -> list[str]:
    """Every module and package under `folder` (recursively), by its dotted name."""
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name == KERAS_CALLBACKS or name.startswith(KERAS_CALLBACKS + "."):
            continue
        out.append(name)
    return out


CORE_MODULES = sorted(_modules("models") + _modules("tui/core") + ["tui.cli", "tui.headless"])


def test_core_modules_import_without_textual_or_tensorflow():
    code = (
        "import sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tensorflow', 'keras'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_no_core_source_mentions_textual():
    offenders = [str(p) for d in ("models", "tui/core") for p in (ROOT / d).rglob("*.py")
                 if "import textual" in p.read_text() or "from textual" in p.read_text()]
    assert offenders == []


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
